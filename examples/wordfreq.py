"""Word frequencies, in the gcheap Python subset: strings, dicts and sorting, not the GC.

Usage: wordfreq.py [WORDS]   (default 20000)
Generates a deterministic text of WORDS words (a linear congruential generator picks
from a vocabulary, with punctuation and capitals), tokenises it character by character,
counts words in a dict, sorts them by (count descending, word ascending) with a merge
sort, and prints the top 15 plus a few statistics.
"""
import sys

VOCABULARY = ["the", "collector", "moves", "objects", "while", "mutator", "threads",
              "run", "page", "fault", "heap", "compaction", "forwarding", "bitmap",
              "chunk", "offset", "from", "space", "to", "a", "of", "and", "in",
              "userfaultfd", "mremap", "pause", "latency", "root", "barrier", "safepoint"]
PUNCTUATION = [" ", " ", " ", " ", ", ", ". ", "; ", " - "]
UPPER = {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E", "f": "F", "g": "G", "h": "H",
         "i": "I", "j": "J", "k": "K", "l": "L", "m": "M", "n": "N", "o": "O", "p": "P",
         "q": "Q", "r": "R", "s": "S", "t": "T", "u": "U", "v": "V", "w": "W", "x": "X",
         "y": "Y", "z": "Z"}


class Lcg:
    __slots__ = ("state",)

    def __init__(self, seed):
        self.state = seed

    def next(self, bound):
        self.state = (self.state * 1103515245 + 12345) % 2147483648
        return (self.state // 65536) % bound


def capitalise(word):
    return UPPER[word[0]] + word[1:]


def generate(words, rng):
    parts = []
    sentence_start = True
    for i in range(words):
        w = VOCABULARY[rng.next(len(VOCABULARY))]
        if sentence_start:
            w = capitalise(w)
        parts.append(w)
        p = PUNCTUATION[rng.next(len(PUNCTUATION))]
        parts.append(p)
        sentence_start = p == ". "
    return "".join(parts)


def lower_char(c):
    for k, v in UPPER.items():
        if v == c:
            return k
    return c


def tokenise(text):
    lower = {}
    for k in UPPER:
        lower[UPPER[k]] = k
    words = []
    current = []
    for c in text:
        if c in lower:
            current.append(lower[c])
        elif "a" <= c and c <= "z":
            current.append(c)
        elif len(current) > 0:
            words.append("".join(current))
            current = []
    if len(current) > 0:
        words.append("".join(current))
    return words


def before(a, b):
    # (count descending, word ascending)
    if a[1] != b[1]:
        return a[1] > b[1]
    return a[0] < b[0]


def merge_sort(items):
    if len(items) <= 1:
        return items
    mid = len(items) // 2
    left = merge_sort(items[:mid])
    right = merge_sort(items[mid:])
    out = []
    i = 0
    j = 0
    while i < len(left) and j < len(right):
        if before(right[j], left[i]):
            out.append(right[j])
            j += 1
        else:
            out.append(left[i])
            i += 1
    while i < len(left):
        out.append(left[i])
        i += 1
    while j < len(right):
        out.append(right[j])
        j += 1
    return out


def main(n):
    text = generate(n, Lcg(2026))
    words = tokenise(text)
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    pairs = []
    for w, c in counts.items():
        pairs.append((w, c))
    ranked = merge_sort(pairs)
    longest = ""
    for w in counts.keys():
        if len(w) > len(longest) or (len(w) == len(longest) and w < longest):
            longest = w
    print(f"text: {len(text)} characters, {len(words)} words, {len(counts)} distinct")
    print("first words: " + text[:60])
    for i in range(min(15, len(ranked))):
        w, c = ranked[i]
        print(f"{i + 1:>3} {w:<12} {c:>6} {100.0 * c / len(words):6.2f}%")
    print("longest word: " + longest + " (" + str(len(longest)) + ")")
    print("sentences: " + str(len(tokenise_sentences(text))))
    print("lower of Q is " + lower_char("Q"))


def tokenise_sentences(text):
    out = []
    start = 0
    for i in range(len(text)):
        if text[i] == ".":
            out.append(text[start:i])
            start = i + 1
    return out


if __name__ == "__main__":
    n = 20000
    if len(sys.argv) > 1:
        n = int(sys.argv[1])
    main(n)
