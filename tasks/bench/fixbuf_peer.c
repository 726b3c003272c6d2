/*
 * The codec benchmark's peer: libfixbuf (CERT NetSA's IPFIX library, the one YAF and
 * super_mediator use) decoding and encoding the same Antrea flow records as flowvis.
 * `deno task bench ipfix` compiles and runs it; it is not part of flowvis.
 *
 *   fixbuf_peer SPEC MESSAGES MESSAGE_SIZE WARMUP ROUNDS ROUND_MS
 *
 * SPEC: one line per field of the template, in order: "enterprise id length type name"
 * (length 65535: variable). Enterprise elements are added to fixbuf's information model; IANA
 * and reverse (RFC 5103) elements are fixbuf's own.
 * MESSAGES: IPFIX messages back to back, the template first.
 *
 * Decode: every data message through fBufSetBuffer/fBufNext into the template's record struct
 * (strings stay pointers into the message, as fixbuf does). Encode: the decoded records through
 * fBufAppend into messages of at most MESSAGE_SIZE octets (fbExporterAllocBuffer).
 * The rounds alternate encode and decode; prints {"encode":[...],"decode":[...]} in records/s.
 */
#include <fixbuf/public.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, GError *err) {
    fprintf(stderr, "fixbuf_peer: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int type_of(const char *t) {
    static const struct { const char *name; int type; } types[] = {
        {"octetArray", FB_OCTET_ARRAY}, {"unsigned8", FB_UINT_8}, {"unsigned16", FB_UINT_16},
        {"unsigned32", FB_UINT_32}, {"unsigned64", FB_UINT_64}, {"signed8", FB_INT_8},
        {"signed16", FB_INT_16}, {"signed32", FB_INT_32}, {"signed64", FB_INT_64},
        {"float32", FB_FLOAT_32}, {"float64", FB_FLOAT_64}, {"boolean", FB_BOOL},
        {"macAddress", FB_MAC_ADDR}, {"string", FB_STRING}, {"dateTimeSeconds", FB_DT_SEC},
        {"dateTimeMilliseconds", FB_DT_MILSEC}, {"dateTimeMicroseconds", FB_DT_MICROSEC},
        {"dateTimeNanoseconds", FB_DT_NANOSEC}, {"ipv4Address", FB_IP4_ADDR},
        {"ipv6Address", FB_IP6_ADDR},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i].name, t) == 0) return types[i].type;
    }
    fprintf(stderr, "fixbuf_peer: unknown type %s\n", t);
    exit(2);
}

typedef struct {
    unsigned char *data;
    size_t len;
} Message;

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: fixbuf_peer SPEC MESSAGES MESSAGE_SIZE WARMUP ROUNDS ROUND_MS\n");
        return 2;
    }
    const int message_size = atoi(argv[3]);
    const int warmup = atoi(argv[4]);
    const int rounds = atoi(argv[5]);
    const double round_s = atoi(argv[6]) / 1000.0;
    GError *err = NULL;

    /* The template's fields, and the enterprise elements fixbuf does not know. */
    FILE *spec = fopen(argv[1], "r");
    if (!spec) die("cannot open SPEC", NULL);
    fbInfoModel_t *model = fbInfoModelAlloc();
    fbInfoElementSpec_t specs[512];
    int nspecs = 0;
    unsigned ent, id, len;
    char type[64], name[256];
    while (nspecs < 511 && fscanf(spec, "%u %u %u %63s %255s", &ent, &id, &len, type, name) == 5) {
        if (ent != 0 && ent != FB_IE_PEN_REVERSE) {
            /* Numbers, times and IPv4 addresses are swapped to host order, as fixbuf's own
               elements are. */
            const int t = type_of(type);
            const int swap = t != FB_STRING && t != FB_OCTET_ARRAY && t != FB_MAC_ADDR &&
                             t != FB_IP6_ADDR;
            fbInfoElement_t ie[2] = {
                FB_IE_INIT_FULL(strdup(name), ent, id, len, swap ? FB_IE_F_ENDIAN : 0, 0, 0, t,
                                NULL),
                FB_IE_NULL,
            };
            fbInfoModelAddElementArray(model, ie);
        }
        specs[nspecs].name = strdup(name);
        specs[nspecs].len_override = len;
        specs[nspecs].flags = 0;
        nspecs++;
    }
    fclose(spec);
    specs[nspecs].name = NULL;
    specs[nspecs].len_override = 0;
    specs[nspecs].flags = 0;

    /* The messages. */
    FILE *f = fopen(argv[2], "rb");
    if (!f) die("cannot open MESSAGES", NULL);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *all = malloc(size);
    if (fread(all, 1, size, f) != (size_t)size) die("cannot read MESSAGES", NULL);
    fclose(f);
    Message *msgs = NULL;
    int nmsgs = 0;
    for (long o = 0; o + 16 <= size;) {
        size_t l = (all[o + 2] << 8) | all[o + 3];
        if (l < 16 || o + (long)l > size) die("truncated message", NULL);
        msgs = realloc(msgs, (nmsgs + 1) * sizeof(Message));
        msgs[nmsgs].data = all + o;
        msgs[nmsgs].len = l;
        nmsgs++;
        o += l;
    }

    /* Collection: the template message first, then the data. */
    fbSession_t *in = fbSessionAlloc(model);
    fbTemplate_t *tin = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(tin, specs, 0xffffffff, &err)) die("template", err);
    uint16_t tid = fbSessionAddTemplate(in, TRUE, FB_TID_AUTO, tin, &err);
    if (!tid) die("internal template", err);
    fBuf_t *cbuf = fBufAllocForCollection(in, NULL);
    if (!fBufSetInternalTemplate(cbuf, tid, &err)) die("set internal template", err);
    const size_t reclen = fbTemplateGetIELenOfMemBuffer(tin);
    /* Records point into the messages, which stay in memory: they are what encode appends. */
    size_t cap = 16384, nrecs = 0;
    uint8_t *recs = malloc(cap * reclen);
    uint8_t *scratch = malloc(reclen);

#define DECODE_ALL(keep, first)                                                       \
    do {                                                                              \
        for (int m = (first); m < nmsgs; m++) {                                       \
            fBufSetBuffer(cbuf, msgs[m].data, msgs[m].len);                           \
            for (;;) {                                                                \
                uint8_t *rec = (keep) ? recs + nrecs * reclen : scratch;              \
                size_t l = reclen;                                                    \
                if (!fBufNext(cbuf, rec, &l, &err)) {                                 \
                    /* The end of the buffer; anything else is an error. */           \
                    if (!g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ)) {     \
                        die("decode", err);                                           \
                    }                                                                 \
                    g_clear_error(&err);                                              \
                    break;                                                            \
                }                                                                     \
                n++;                                                                  \
                if (keep) {                                                           \
                    if (++nrecs == cap) recs = realloc(recs, (cap *= 2) * reclen);    \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    } while (0)

    long n = 0;
    DECODE_ALL(1, 0);
    if (nrecs == 0) die("no records decoded", NULL);

    /* Export into messages of at most message_size octets. */
    fbSession_t *out = fbSessionAlloc(model);
    fbTemplate_t *tint = fbTemplateAlloc(model);
    fbTemplate_t *text = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(tint, specs, 0xffffffff, &err)) die("template", err);
    if (!fbTemplateAppendSpecArray(text, specs, 0xffffffff, &err)) die("template", err);
    uint16_t otid = fbSessionAddTemplate(out, TRUE, FB_TID_AUTO, tint, &err);
    if (!otid) die("internal export template", err);
    if (!fbSessionAddTemplate(out, FALSE, 256, text, &err)) die("export template", err);
    uint8_t *outbuf = malloc(message_size);
    fbExporter_t *exporter = fbExporterAllocBuffer(outbuf, (uint16_t)message_size);
    fBuf_t *ebuf = fBufAllocForExport(out, exporter);
    if (!fbSessionExportTemplates(out, &err)) die("export templates", err);
    if (!fBufSetInternalTemplate(ebuf, otid, &err)) die("set internal template", err);
    if (!fBufSetExportTemplate(ebuf, 256, &err)) die("set export template", err);

    double *enc = calloc(rounds, sizeof(double));
    double *dec = calloc(rounds, sizeof(double));
    for (int r = 0; r < warmup + rounds; r++) {
        double t0 = now_s(), t = t0;
        n = 0;
        while (t - t0 < round_s) {
            for (size_t i = 0; i < nrecs; i++) {
                if (!fBufAppend(ebuf, recs + i * reclen, reclen, &err)) die("encode", err);
            }
            n += nrecs;
            t = now_s();
        }
        if (r >= warmup) enc[r - warmup] = n / (t - t0);
        t0 = now_s();
        t = t0;
        n = 0;
        while (t - t0 < round_s) {
            /* Each pass continues the sequence numbers (fixbuf checks and logs them); the
               template message, already known, is not read again. */
            for (int m = 1; m < nmsgs; m++) {
                unsigned char *h = msgs[m].data + 8;
                uint32_t seq = ((uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]) + nrecs;
                h[0] = seq >> 24;
                h[1] = seq >> 16;
                h[2] = seq >> 8;
                h[3] = seq;
            }
            const long before = n;
            DECODE_ALL(0, 1);
            if (n - before != (long)nrecs) die("a decode pass lost records", NULL);
            t = now_s();
        }
        if (r >= warmup) dec[r - warmup] = n / (t - t0);
    }
    printf("{\"records\":%zu,\"encode\":[", nrecs);
    for (int r = 0; r < rounds; r++) printf("%s%.0f", r ? "," : "", enc[r]);
    printf("],\"decode\":[");
    for (int r = 0; r < rounds; r++) printf("%s%.0f", r ? "," : "", dec[r]);
    printf("]}\n");
    return 0;
}
