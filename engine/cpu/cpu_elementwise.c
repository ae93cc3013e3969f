/* The cpu interpreter of fused elementwise programs (vf_ew_program).
 *
 * Elements are processed in blocks of EW_BLOCK: each instruction runs as one
 * tight loop over the block (the opcode switch is outside the loop, so the
 * loops vectorise), registers are EW_BLOCK-float rows of a scratch array.
 * A FULL input is read in place (its register points into the tensor) unless
 * an output aliases an input, in which case loads copy: outputs are stored
 * after the whole block is computed, which keeps aliasing safe. */
#include "../backend.h"
#include "cpu_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EW_BLOCK 256

static void load(const vf_op *op, int input, int bcast, size_t e0, size_t n, float *r) {
    const float *x = (const float *)vf_cpu_ptr(op->args[input]);
    const size_t C = op->u[1];
    const uint32_t wc = op->ew->in_cols[input];
    if (wc) { /* column window: x is [R, wc], column c reads c + off */
        const int64_t off = op->ew->in_col_off[input];
        size_t row = e0 / C, c = e0 % C;
        for (size_t i = 0; i < n; i++) {
            const int64_t cc = (int64_t)c + off;
            r[i] = cc >= 0 && cc < (int64_t)wc ? x[row * wc + (size_t)cc] : 0.0f;
            if (++c == C) { c = 0; row++; }
        }
        return;
    }
    switch (bcast) {
    case VF_BC_FULL: memcpy(r, x + e0, n * sizeof *r); break;
    case VF_BC_SCALAR: for (size_t i = 0; i < n; i++) r[i] = x[0]; break;
    case VF_BC_ROW: {
        size_t c = e0 % C;
        for (size_t i = 0; i < n; i++) {
            r[i] = x[c];
            if (++c == C) c = 0;
        }
        break;
    }
    case VF_BC_COL: {
        size_t row = e0 / C, c = e0 % C;
        for (size_t i = 0; i < n; i++) {
            r[i] = x[row];
            if (++c == C) { c = 0; row++; }
        }
        break;
    }
    }
}

/* Does any output overlap any input? */
static bool outputs_alias_inputs(const vf_op *op, const vf_ew_program *p) {
    for (int k = 0; k < p->n_out; k++) {
        const vf_tensor *y = op->args[p->n_in + k];
        for (int i = 0; i < p->n_in; i++) {
            const vf_tensor *x = op->args[i];
            if (x->arena == y->arena && x->offset < y->offset + vf_tensor_bytes(y) &&
                y->offset < x->offset + vf_tensor_bytes(x))
                return true;
        }
    }
    return false;
}

vf_status vf_cpu_elementwise(const vf_op *op) {
    const vf_ew_program *p = op->ew;
    const size_t total = (size_t)op->u[0] * op->u[1];
    const bool in_place_loads = !outputs_alias_inputs(op, p);
    float *reg = malloc((size_t)p->n_code * EW_BLOCK * sizeof *reg);
    if (!reg) return vf_fail(VF_ERR_OOM, "elementwise: out of host memory");
    const float *rp[VF_EW_MAX_CODE]; /* where register i's block is */
    for (size_t e0 = 0; e0 < total; e0 += EW_BLOCK) {
        const size_t n = total - e0 < EW_BLOCK ? total - e0 : EW_BLOCK;
        for (int i = 0; i < p->n_code; i++) {
            const vf_ew_instr *c = &p->code[i];
            float *r = reg + (size_t)i * EW_BLOCK;
            rp[i] = r;
            const float *a = rp[c->a], *b = rp[c->b], *d = rp[c->c];
            const float imm = c->imm;
            switch ((vf_ew_op)c->op) {
            case VF_EW_LOAD:
                if (in_place_loads && p->in_bcast[c->a] == VF_BC_FULL && !p->in_cols[c->a])
                    rp[i] = (const float *)vf_cpu_ptr(op->args[c->a]) + e0;
                else
                    load(op, c->a, p->in_bcast[c->a], e0, n, r);
                break;
            case VF_EW_CONST: for (size_t k = 0; k < n; k++) r[k] = imm; break;
            case VF_EW_ADD: for (size_t k = 0; k < n; k++) r[k] = a[k] + b[k]; break;
            case VF_EW_SUB: for (size_t k = 0; k < n; k++) r[k] = a[k] - b[k]; break;
            case VF_EW_MUL: for (size_t k = 0; k < n; k++) r[k] = a[k] * b[k]; break;
            case VF_EW_DIV: for (size_t k = 0; k < n; k++) r[k] = a[k] / b[k]; break;
            case VF_EW_MAX: for (size_t k = 0; k < n; k++) r[k] = a[k] > b[k] ? a[k] : b[k]; break;
            case VF_EW_MIN: for (size_t k = 0; k < n; k++) r[k] = a[k] < b[k] ? a[k] : b[k]; break;
            case VF_EW_NEG: for (size_t k = 0; k < n; k++) r[k] = -a[k]; break;
            case VF_EW_ABS: for (size_t k = 0; k < n; k++) r[k] = fabsf(a[k]); break;
            case VF_EW_SQUARE: for (size_t k = 0; k < n; k++) r[k] = a[k] * a[k]; break;
            case VF_EW_SQRT: for (size_t k = 0; k < n; k++) r[k] = sqrtf(a[k]); break;
            case VF_EW_RSQRT: for (size_t k = 0; k < n; k++) r[k] = 1.0f / sqrtf(a[k]); break;
            case VF_EW_EXP: for (size_t k = 0; k < n; k++) r[k] = expf(a[k]); break;
            case VF_EW_LOG: for (size_t k = 0; k < n; k++) r[k] = logf(a[k]); break;
            case VF_EW_LOG1P: for (size_t k = 0; k < n; k++) r[k] = log1pf(a[k]); break;
            case VF_EW_TANH: for (size_t k = 0; k < n; k++) r[k] = vf_fast_tanhf(a[k]); break;
            case VF_EW_SIGMOID: for (size_t k = 0; k < n; k++) r[k] = 1.0f / (1.0f + expf(-a[k])); break;
            case VF_EW_SOFTPLUS:
                for (size_t k = 0; k < n; k++) r[k] = fmaxf(a[k], 0.0f) + log1pf(expf(-fabsf(a[k])));
                break;
            case VF_EW_RELU: for (size_t k = 0; k < n; k++) r[k] = a[k] > 0 ? a[k] : 0.0f; break;
            case VF_EW_LEAKY_RELU: for (size_t k = 0; k < n; k++) r[k] = a[k] > 0 ? a[k] : imm * a[k]; break;
            case VF_EW_STEP: for (size_t k = 0; k < n; k++) r[k] = a[k] > 0 ? 1.0f : 0.0f; break;
            case VF_EW_SELECT: for (size_t k = 0; k < n; k++) r[k] = a[k] > 0 ? b[k] : d[k]; break;
            case VF_EW_SIN: for (size_t k = 0; k < n; k++) r[k] = sinf(a[k]); break;
            case VF_EW_COS: for (size_t k = 0; k < n; k++) r[k] = cosf(a[k]); break;
            case VF_EW_OP_COUNT: break;
            }
        }
        for (int k = 0; k < p->n_out; k++) {
            float *y = (float *)vf_cpu_ptr(op->args[p->n_in + k]);
            memcpy(y + e0, rp[p->out_reg[k]], n * sizeof *y);
        }
    }
    free(reg);
    return VF_OK;
}
