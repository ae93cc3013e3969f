/* DP-SGD as a graph rewrite (../shared/REFERENCE.md §4.1, §4.1b).
 *
 * DP-SGD needs, per example i of a batch, the gradient g_i of its own loss,
 * clipped to norm C, summed, plus Gaussian noise:
 *     g~ = (sum_i mask_i min(1, C / ||g_i||) g_i + sigma C xi) / L
 * (L the expected batch of Poisson sampling, xi ~ N(0, I)). Materialising B
 * copies of every weight gradient is what makes naive DP-SGD slow; this
 * rewrite never does. It reads the structure autodiff gave each parameter's
 * gradient: a sum of
 *     matmul(P, Q) with ta:  sum over rows r of P[r]^T Q[r]   (a dense layer's
 *                            weight, once per use: forward, and the double
 *                            backward of a gradient penalty)
 *     sum over rows of V:    sum_r V[r]                       (a broadcast bias)
 * where row r of P, Q, V belongs to example r. Example i's gradient is then
 *     g_i = s * sum_k P_k[i]^T Q_k[i]    (s = loss_scale: B for a batch-mean loss)
 *     ||g_i||^2 = s^2 sum_{k,l} (P_k[i] . P_l[i]) (Q_k[i] . Q_l[i])
 * ("ghost" norms with the cross terms of a weight used several times), and
 * the clipped sum is the same matmuls with Q's rows scaled by the clip
 * factors. So the privatised gradient costs the ordinary one plus row dot
 * products and a noise draw.
 *
 * The rewrite refuses what it cannot prove per-example: a parameter whose
 * gradient has another form (batchnorm, layernorm, embedding tables), rows
 * that are not the batch's, and a batchnorm anywhere between the
 * parameters and the loss (batch statistics mix examples). */
#ifndef VKFLOW_GRAPH_DP_H
#define VKFLOW_GRAPH_DP_H

#include "graph.h"

/* The run-time values the rewrite reads, as graph inputs the caller writes
 * (so one compiled program serves any sigma, C and sampling rate). */
typedef struct vf_dp_inputs {
    int mask;        /* [B]: 1 for a sampled example, 0 for a padding row */
    int clip;        /* [1]: C */
    int row_scale;   /* [1]: loss_scale / L (1 when L = B: the plain batch mean) */
    int noise_std;   /* [1]: sigma C / L */
    float loss_scale;    /* g_i = loss_scale * (row i's contribution): B for batch-mean losses */
    uint32_t stream;     /* Philox stream of the first parameter's noise; +1 per parameter */
} vf_dp_inputs;

/* The rewrite for the n parameters params[] whose summed gradients are
 * grads[] (nodes vf_graph_vjp made). out_grads[k] gets the privatised
 * gradient of params[k]; *norms ([B], may be NULL) the per-example gradient
 * norms ||g_i|| before clipping; *clipped ([1], may be NULL) the fraction of
 * sampled examples whose norm exceeded C. `what` names the program in
 * messages. */
vf_status vf_graph_dp_sgd(vf_graph *g, const char *what, int n, const int *params, const int *grads,
                          const vf_dp_inputs *in, int *out_grads, int *norms, int *clipped);

#endif
