/* api_runtime_cmc.h - collector "cmc" of the managed runtime: the runtime's
 * phases (mark, liveness, page metadata, roots) in a pause, then the flip and
 * concurrent compaction with gr_compact_page as the page builder.
 * Plain declarations only: fed to cffi's cdef unchanged (after api_runtime.h). */
#define GR_COLLECTOR_CMC 1

/* Switches rt to collector "cmc". On failure (no userfaultfd, no DONTUNMAP,
 * from-space reservation refused...) returns -errno and rt stays "stw". */
int gr_cmc_enable(gr_runtime *rt, const struct cmc_config *cfg);
/* Waits until the running compaction cycle (if any) is complete. */
int gr_cmc_wait(gr_runtime *rt, int timeout_ms);
int gr_cmc_active(gr_runtime *rt);

struct gr_cmc_info {
    int32_t enabled;            /* collector is cmc */
    int32_t concurrent;         /* last collection ran concurrently */
    int32_t flip_error;         /* -errno of a failed flip (then stw compacted), 0 if none */
    int32_t forked;             /* this process is a fork child: collections are stop-the-world */
    uint64_t pause_seq;         /* the gr_pause seq of the last collection */
    uint64_t roots_ns;          /* flip.roots */
    uint64_t mark_ns;           /* marking pause part: safepoint .. page metadata */
};
int gr_cmc_info(gr_runtime *rt, struct gr_cmc_info *info, struct cmc_stats *stats);
/* Totals over every cycle of rt's cmc (zeros when rt is not concurrent). */
int gr_cmc_totals(gr_runtime *rt, struct cmc_totals *out);
int gr_cmc_stalls(gr_runtime *rt, double *out, int max);
int gr_cmc_inject(gr_runtime *rt, int point, int nth, int times, int err);
