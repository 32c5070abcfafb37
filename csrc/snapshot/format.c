/* format.c - the snapshot file: writing its metadata and header, reading and
 * checking them (see gcheap/snapshot.h for the layout).
 *
 * Validate, then act: a reader checks the magic, the version and page size, the
 * header's checksum, that every field is one a runtime can have had (a header
 * can be well summed and still lie), that every section lies inside the file
 * and the file is as long as the header says, the metadata's checksum and that
 * every chunk's pages lie inside the data section - all before a restore maps
 * anything. The data chunks are checked as they are read (lazily: when a fault
 * or the filler brings them in) or all at once (gs_file_verify, restore with
 * verify). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

_Static_assert(sizeof(struct gs_header) <= 4096, "the header fits a page");
_Static_assert(sizeof(struct gr_class) == 16, "class records are 16 bytes in the file");
_Static_assert(sizeof(struct gk_ps_chunk) == 24, "chunk records are 24 bytes in the file");

int gs_write_all(int fd, const void *buf, uint64_t len, uint64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -ENOSPC;
        p += w, off += (uint64_t)w, len -= (uint64_t)w;
    }
    return 0;
}

int gs_read_all(int fd, void *buf, uint64_t len, uint64_t off)
{
    char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ENODATA;
        p += r, off += (uint64_t)r, len -= (uint64_t)r;
    }
    return 0;
}

uint64_t gs_header_checksum(const struct gs_header *h)
{
    /* the header's size is a multiple of 8, not of 32: sum a zero-padded copy */
    char buf[sizeof *h + 32];
    memset(buf, 0, sizeof buf);
    memcpy(buf, h, offsetof(struct gs_header, header_checksum));
    return gk_checksum((uintptr_t)buf, (sizeof *h + 31) & ~31ul);
}

static uint64_t pad8(uint64_t n) { return (n + 7) & ~7ull; }

/* The checksum of the metadata sections as laid out in buf (len: a multiple of 8). */
static uint64_t meta_sum(const char *buf, uint64_t len)
{
    uint64_t whole = len & ~31ull;
    struct gk_sum s;
    gk_sum_init(&s);
    gk_sum_update(&s, buf, whole);
    char tail[32] = {0};
    memcpy(tail, buf + whole, len - whole);
    gk_sum_update(&s, tail, 32);
    return gk_sum_final(&s) ^ len;
}

int gs_write_metadata(struct gs_op *op)
{
    struct gs_header *h = &op->state.hdr;
    uint64_t cls = h->nclasses * sizeof(struct gr_class), glob = h->nglobals * 8;
    uint64_t meta = pad8(op->cfg.meta_len), chunks = op->nchunks * sizeof(struct gk_ps_chunk);
    uint64_t len = cls + glob + meta + chunks;
    char *buf = calloc(1, len + 32);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, op->state.classes, cls);
    memcpy(buf + cls, op->state.globals, glob);
    if (op->cfg.meta_len)
        memcpy(buf + cls + glob, op->cfg.meta, op->cfg.meta_len);
    memcpy(buf + cls + glob + meta, op->chunks, chunks);
    uint64_t base = op->file_pos;
    h->stored_pages = 0;
    for (uint64_t c = 0; c < op->nchunks; c++)
        h->stored_pages += (uint64_t)__builtin_popcountll(op->chunks[c].present);
    h->classes_off = base;
    h->globals_off = base + cls;
    h->meta_len = op->cfg.meta_len;
    h->meta_off = base + cls + glob;
    h->nchunks = op->nchunks;
    h->chunks_off = base + cls + glob + meta;
    h->file_bytes = base + len;
    h->metadata_checksum = meta_sum(buf, len);
    int rc = gs_write_all(op->fd, buf, len, base);
    free(buf);
    if (rc < 0)
        return rc;
    memcpy(h->magic, GS_MAGIC, 8);
    h->version = GS_FORMAT_VERSION;
    h->header_bytes = (uint32_t)op->psize;
    h->page_size = (uint32_t)op->psize;
    h->chunk_pages = (uint32_t)op->cp;
    h->kind = op->kind;
    h->mode = op->cfg.mode;
    h->data_off = op->psize;
    h->data_bytes = base - op->psize;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    h->header_checksum = gs_header_checksum(h);
    char *page = calloc(1, op->psize);
    if (!page)
        return -ENOMEM;
    memcpy(page, h, sizeof *h);
    /* the data is on disk before the header that makes it a snapshot */
    if (op->cfg.fsync && fdatasync(op->fd) != 0) {
        free(page);
        return -errno;
    }
    rc = gs_write_all(op->fd, page, op->psize, 0);
    free(page);
    if (rc == 0 && ftruncate(op->fd, (off_t)h->file_bytes) != 0)
        rc = -errno;
    if (rc == 0 && op->cfg.fsync && fdatasync(op->fd) != 0)
        rc = -errno;
    op->rep.file_bytes = h->file_bytes;
    op->rep.metadata_bytes = op->psize + len;
    return rc;
}

void gs_state_free(struct gs_state *st)
{
    free(st->classes);
    free(st->globals);
    st->classes = NULL;
    st->globals = NULL;
}

static int inside(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
    return off >= lo && off <= hi && len <= hi - off;
}

/* Header checks that need nothing but the header and the file's size. */
static int check_header(const struct gs_header *h, uint64_t size)
{
    if (memcmp(h->magic, GS_MAGIC, 8) != 0)
        return -ENOEXEC;
    if (h->version != GS_FORMAT_VERSION)
        return -EPROTONOSUPPORT;
    if (h->header_checksum != gs_header_checksum(h))
        return -EBADMSG;
    if (h->page_size != (uint32_t)gk_page_size())
        return -EPROTONOSUPPORT;
    if (size < h->file_bytes)
        return -ENODATA;
    uint64_t ps = h->page_size, cp = h->chunk_pages;
    /* every field a restore acts on must be one a runtime can have had: the heap
     * somewhere fixed and whole, the sizing gr_heap_init accepts, known kinds */
    if (h->header_bytes != ps || !cp || cp > GK_PS_MAX_BLOCK_PAGES || (cp & (cp - 1)) ||
        (h->kind != GS_KIND_SNAPSHOT && h->kind != GS_KIND_SWAP) || h->mode < GS_MODE_DONTUNMAP ||
        h->mode > GS_MODE_STW || (h->collector != GR_COLLECTOR_STW && h->collector != GR_COLLECTOR_CMC) ||
        h->heap_capacity == 0 || h->heap_capacity > GR_MAX_HEAP || h->heap_capacity % (2u << 20) ||
        h->heap_address == 0 || h->heap_address % (2u << 20) || h->heap_address + h->heap_capacity < h->heap_address ||
        h->used > h->heap_capacity || h->used % 8 || h->live > h->heap_capacity ||
        h->sizing_initial > h->heap_capacity || h->sizing_min_free > h->sizing_max_free ||
        h->nchunks != (h->used + cp * ps - 1) / (cp * ps) || h->nclasses < GR_FIRST_USER_CLASS ||
        h->nclasses > GR_MAX_CLASSES || h->nglobals > GR_MAX_GLOBALS || h->data_off != ps ||
        h->soft_limit > h->heap_capacity || !(h->target_utilization > 0 && h->target_utilization <= 1))
        return -EBADMSG;
    if (h->data_bytes > h->file_bytes || h->data_off + h->data_bytes != h->classes_off ||
        h->globals_off != h->classes_off + h->nclasses * 16 || h->meta_off != h->globals_off + h->nglobals * 8 ||
        h->chunks_off != h->meta_off + pad8(h->meta_len) || h->file_bytes != h->chunks_off + h->nchunks * 24 ||
        !inside(h->classes_off, h->file_bytes - h->classes_off, ps, h->file_bytes))
        return -EBADMSG;
    return 0;
}

int gs_read_file(int fd, struct gs_state *st, struct gk_ps_chunk **chunks_out, char *meta, uint64_t meta_cap)
{
    memset(st, 0, sizeof *st);
    if (chunks_out)
        *chunks_out = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return -errno;
    uint64_t size = (uint64_t)sb.st_size;
    struct gs_header *h = &st->hdr;
    if (size < sizeof *h) {     /* a truncated snapshot, or not one at all */
        char magic[8] = {0};
        if (size < 8 || gs_read_all(fd, magic, 8, 0) < 0 || memcmp(magic, GS_MAGIC, 8) != 0)
            return -ENOEXEC;
        return -ENODATA;
    }
    int rc = gs_read_all(fd, h, sizeof *h, 0);
    if (rc < 0)
        return rc;
    if ((rc = check_header(h, size)) < 0)
        return rc;
    uint64_t len = h->file_bytes - h->classes_off;
    char *buf = malloc(len + 32);
    if (!buf)
        return -ENOMEM;
    if ((rc = gs_read_all(fd, buf, len, h->classes_off)) < 0 || meta_sum(buf, len) != h->metadata_checksum) {
        free(buf);
        return rc < 0 ? rc : -EBADMSG;
    }
    const struct gk_ps_chunk *ch = (const struct gk_ps_chunk *)(buf + (h->chunks_off - h->classes_off));
    uint64_t ps = h->page_size, cp = h->chunk_pages, stored = 0;
    uint64_t used_pages = (h->used + ps - 1) / ps;
    for (uint64_t c = 0; c < h->nchunks; c++) {
        uint64_t n = (uint64_t)__builtin_popcountll(ch[c].present);
        uint64_t valid = cp == 64 ? ~0ull : (1ull << cp) - 1;
        if (c == h->nchunks - 1 && used_pages % cp)         /* the last chunk's pages past `used` */
            valid &= (1ull << (used_pages % cp)) - 1;
        if ((ch[c].present & ~valid) || (n && !inside(ch[c].offset, n * ps, h->data_off, h->classes_off))) {
            free(buf);
            return -EBADMSG;
        }
        stored += n;
    }
    if (stored != h->stored_pages) {
        free(buf);
        return -EBADMSG;
    }
    const struct gr_class *cls = (const struct gr_class *)buf;
    for (uint64_t i = GR_FIRST_USER_CLASS; i < h->nclasses; i++)
        if (cls[i].kind != 1 /* GR_KIND_INSTANCE */ || cls[i].size != 8 * (1 + cls[i].nrefs + cls[i].nscalars)) {
            free(buf);
            return -EBADMSG;
        }
    st->classes = malloc(h->nclasses * sizeof(struct gr_class));
    st->globals = malloc(h->nglobals * 8 + 8);
    struct gk_ps_chunk *chunks = malloc(h->nchunks * sizeof *chunks + sizeof *chunks);
    if (!st->classes || !st->globals || !chunks) {
        free(buf);
        free(chunks);
        gs_state_free(st);
        return -ENOMEM;
    }
    memcpy(st->classes, buf, h->nclasses * sizeof(struct gr_class));
    memcpy(st->globals, buf + (h->globals_off - h->classes_off), h->nglobals * 8);
    for (uint64_t g = 0; g < h->nglobals; g++) {
        uint64_t a = st->globals[g];
        if (a && (a < h->heap_address || a - h->heap_address >= h->used || a % 8)) {
            free(buf);
            free(chunks);
            gs_state_free(st);
            return -EBADMSG;
        }
    }
    memcpy(chunks, ch, h->nchunks * sizeof *chunks);
    if (meta && meta_cap) {
        uint64_t n = h->meta_len < meta_cap ? h->meta_len : meta_cap;
        memcpy(meta, buf + (h->meta_off - h->classes_off), n);
    }
    free(buf);
    if (chunks_out)
        *chunks_out = chunks;
    else
        free(chunks);
    return 0;
}

int gs_file_info(int fd, struct gs_file_info *out, char *meta, uint64_t meta_cap)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    struct gs_state st;
    int rc = gs_read_file(fd, &st, NULL, meta, meta_cap);
    const struct gs_header *h = &st.hdr;
    if (rc < 0 && rc != -EPROTONOSUPPORT)
        return rc;
    out->version = h->version;
    out->page_size = h->page_size;
    if (rc < 0)
        return rc;              /* version and page size say why */
    out->chunk_pages = h->chunk_pages;
    out->collector = h->collector;
    out->kind = h->kind;
    out->mode = h->mode;
    out->heap_address = h->heap_address;
    out->heap_capacity = h->heap_capacity;
    out->used = h->used;
    out->soft_limit = h->soft_limit;
    out->live = h->live;
    out->sizing = (struct gr_heap_sizing){ .initial = h->sizing_initial, .min_free = h->sizing_min_free,
                                           .max_free = h->sizing_max_free,
                                           .target_utilization = h->target_utilization };
    out->nclasses = h->nclasses;
    out->nglobals = h->nglobals;
    out->nchunks = h->nchunks;
    out->data_bytes = h->data_bytes;
    out->stored_pages = h->stored_pages;
    out->file_bytes = h->file_bytes;
    out->metadata_bytes = h->file_bytes - h->classes_off + h->header_bytes;
    out->meta_len = h->meta_len;
    out->created_ns = h->created_ns;
    out->header_checksum = h->header_checksum;
    gs_state_free(&st);
    return 0;
}

int gs_file_verify(int fd, uint64_t *bad_chunk)
{
    struct gs_state st;
    struct gk_ps_chunk *ch;
    int rc = gs_read_file(fd, &st, &ch, NULL, 0);
    if (rc < 0)
        return rc;
    uint64_t ps = st.hdr.page_size, cap = 64 * ps;
    char *buf = malloc(cap);
    if (!buf)
        rc = -ENOMEM;
    for (uint64_t c = 0; rc == 0 && c < st.hdr.nchunks; c++) {
        uint64_t n = (uint64_t)__builtin_popcountll(ch[c].present) * ps;
        if (!n)
            continue;
        rc = gs_read_all(fd, buf, n, ch[c].offset);
        if (rc == 0 && gk_checksum((uintptr_t)buf, n) != ch[c].checksum)
            rc = -EBADMSG;
        if (rc < 0 && bad_chunk)
            *bad_chunk = c;
    }
    free(buf);
    free(ch);
    gs_state_free(&st);
    return rc;
}
