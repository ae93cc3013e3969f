/* The encoder of a private run: a public run's, with the private trace's
 * chunk windows (docs/PRIVACY.md, "What the encoder learns"). */
#include "encode.h"
#include "encode_internal.h"

#include <stdlib.h>
#include <string.h>

vf_status vf_encoder_adopt_public(const char *public_encoder, const vf_data_desc *dd, const vf_trace *t,
                                  vf_encoder *out) {
    VF_TRY(vf_encoder_load(public_encoder, out));
    vf_data_desc defaults;
    dd = vf_enc_resolve_desc(dd, t->kind, &defaults); /* as vf_encoder_fit takes them */
    vf_status st = VF_OK;
    if (out->kind != t->kind)
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run encoded %s, the private trace holds %s", public_encoder,
                     out->kind == VF_TRACE_PACKETS ? "packets" : "flows", t->kind == VF_TRACE_PACKETS ? "packets" : "flows");
    else if (out->n_chunks != dd->n_chunks)
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run has %d chunks, the private run's data asks for %d", public_encoder,
                     out->n_chunks, dd->n_chunks);
    else if (out->chunking != VF_CHUNK_FIXED_TIME || dd->chunking != VF_CHUNK_FIXED_TIME)
        st = vf_fail(VF_ERR_FORMAT, "%s: privacy runs need fixed_time chunking (fixed_size chunk edges are quantiles of "
                     "the private timestamps)", public_encoder);
    else if ((out->flen != NULL) != (dd->flow_lengths == VF_FLEN_TRAINING))
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run has flow_lengths %s, the private run's data asks for %s",
                     public_encoder, out->flen ? "training" : "model",
                     dd->flow_lengths == VF_FLEN_TRAINING ? "training" : "model");
    else if ((out->xgapq != NULL) != (dd->carried_gaps == VF_CGAP_TRAINING))
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run has carried_gaps %s, the private run's data asks for %s",
                     public_encoder, out->xgapq ? "training" : "model",
                     dd->carried_gaps == VF_CGAP_TRAINING ? "training" : "model");
    else if ((out->fspan != NULL) != (dd->flow_spans == VF_FSPAN_TRAINING))
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run has flow_spans %s, the private run's data asks for %s",
                     public_encoder, out->fspan ? "training" : "model",
                     dd->flow_spans == VF_FSPAN_TRAINING ? "training" : "model");
    else if (out->n_fields != dd->n_fields)
        st = vf_fail(VF_ERR_FORMAT, "%s: the public run encodes %d fields, the private data description %d", public_encoder,
                     out->n_fields, dd->n_fields);
    for (int i = 0; !st && i < dd->n_fields; i++)
        if (out->fields[i].field != dd->fields[i].field || out->fields[i].enc != dd->fields[i].enc)
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d is %s (%s) in the public run and %s (%s) here", public_encoder, i + 1,
                         vf_field_name(out->fields[i].field), vf_encoding_name(out->fields[i].enc),
                         vf_field_name(dd->fields[i].field), vf_encoding_name(dd->fields[i].enc));
        else if (out->fields[i].decode != dd->fields[i].decode ||
                 (out->fields[i].enc == VF_ENC_DICT && out->fields[i].top != dd->fields[i].top))
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d (%s) is decoded by %s (top %d) in the public run and by %s (top %d) "
                         "here", public_encoder, i + 1, vf_field_name(dd->fields[i].field),
                         vf_ip_decode_name(out->fields[i].decode), out->fields[i].top,
                         vf_ip_decode_name(dd->fields[i].decode), dd->fields[i].top);
        else if (out->fields[i].class_decode != dd->fields[i].class_decode)
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d (%s) has class_decode %s in the public run and %s here", public_encoder,
                         i + 1, vf_field_name(dd->fields[i].field), out->fields[i].class_decode ? "quota" : "argmax",
                         dd->fields[i].class_decode ? "quota" : "argmax");
        else if (out->fields[i].popularity != dd->fields[i].popularity)
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d (%s) has popularity %s in the public run and %s here", public_encoder,
                         i + 1, vf_field_name(dd->fields[i].field), out->fields[i].popularity ? "training" : "model",
                         dd->fields[i].popularity ? "training" : "model");
        else if (out->fields[i].start_decode != dd->fields[i].start_decode)
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d (%s) has start_decode %s in the public run and %s here", public_encoder,
                         i + 1, vf_field_name(dd->fields[i].field), out->fields[i].start_decode ? "rank" : "value",
                         dd->fields[i].start_decode ? "rank" : "value");
        else if (out->fields[i].bins != dd->fields[i].bins || out->fields[i].qdecode != dd->fields[i].qdecode)
            st = vf_fail(VF_ERR_FORMAT, "%s: field %d (%s) has %d quantile bins (decode %s) in the public run and %d "
                         "(decode %s) here", public_encoder, i + 1, vf_field_name(dd->fields[i].field),
                         out->fields[i].bins, out->fields[i].qdecode ? "rank" : "value", dd->fields[i].bins,
                         dd->fields[i].qdecode ? "rank" : "value");
    if (!st && t->n == 0) st = vf_fail(VF_ERR_FORMAT, "the private trace is empty");
    if (st) {
        vf_encoder_free(out);
        return st;
    }
    /* the capture's time span is public (NetShare's assumption): chunk edges
     * and the range of flow start times in each chunk come from it alone */
    int64_t t0 = t->recs[0].ts_ns, t1 = t->recs[0].ts_ns;
    for (size_t i = 1; i < t->n; i++) {
        if (t->recs[i].ts_ns < t0) t0 = t->recs[i].ts_ns;
        if (t->recs[i].ts_ns > t1) t1 = t->recs[i].ts_ns;
    }
    __int128 span = (__int128)t1 - t0 + 1;
    for (int c = 0; c <= out->n_chunks; c++) out->chunk_begin[c] = t0 + (int64_t)(span * c / out->n_chunks);
    for (int c = 0; c < out->n_chunks; c++) {
        out->start_lo[c] = out->chunk_begin[c];
        out->start_hi[c] = out->chunk_begin[c + 1] - 1;
    }
    return VF_OK;
}

vf_status vf_trace_bound_chunks(const vf_encoder *e, int k, vf_trace *t, size_t *records, size_t *flows) {
    if (records) *records = 0;
    if (flows) *flows = 0;
    if (k < 1) return vf_fail(VF_ERR_ARG, "bound_chunks: k = %d < 1", k);
    if (k >= e->n_chunks || t->n == 0) return VF_OK;
    vf_flow_index fi;
    VF_TRY(vf_flow_index_build(t, &fi));
    bool *keep = malloc(t->n * sizeof *keep);
    if (!keep) {
        vf_flow_index_free(&fi);
        return vf_fail(VF_ERR_OOM, "bound_chunks: out of memory");
    }
    size_t cut_flows = 0;
    for (size_t f = 0; f < fi.n_flows; f++) {
        int first = e->n_chunks;
        for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++) {
            int c = vf_encoder_chunk_of(e, t->recs[fi.order[j]].ts_ns);
            if (c < first) first = c;
        }
        bool cut = false;
        for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++) {
            size_t i = fi.order[j];
            keep[i] = vf_encoder_chunk_of(e, t->recs[i].ts_ns) < first + k;
            cut |= !keep[i];
        }
        cut_flows += cut;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (keep[i]) t->recs[n++] = t->recs[i];
    if (records) *records = t->n - n;
    if (flows) *flows = cut_flows;
    t->n = n;
    free(keep);
    vf_flow_index_free(&fi);
    return VF_OK;
}
