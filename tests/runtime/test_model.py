"""Model-based test of the runtime (see runtime_model.py). The concurrent
compactor's modes are added by making another machine with their options."""
import os

from hypothesis import HealthCheck, settings

from tests.support.runtime_model import make_model_machine

STRESS = os.environ.get("GCHEAP_STRESS") == "1"
SETTINGS = settings(max_examples=1500 if STRESS else 300, stateful_step_count=80 if STRESS else 40,
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])

TestModelStw = make_model_machine({"collector": "stw"}).TestCase
TestModelStw.settings = SETTINGS

TestModelStwVerify = make_model_machine({"collector": "stw", "verify": True}).TestCase
TestModelStwVerify.settings = settings(SETTINGS, max_examples=300 if STRESS else 40)

TestModelStwStress = make_model_machine({"collector": "stw", "stress": True}, heap_size="4M").TestCase
TestModelStwStress.settings = settings(SETTINGS, max_examples=150 if STRESS else 20, stateful_step_count=25)
