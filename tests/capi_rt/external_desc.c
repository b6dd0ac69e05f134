/* external_desc.c — a second hand-written model for the C runtime's tests, as compiled with
 * --external-weights: no embedded weights, so an instance needs weights_path or param_data.
 * Loaded with dlopen next to "testnet", it also shows that two models' runtimes do not mix.
 *
 * Model "external", parameters: 0 w f32[2], 1 n i64[] (updated in place).
 * Entries: read -> y f32[2] = w (an output that is a parameter's buffer); bump -> n_out = n + 1.
 */
#include <stddef.h>
#include <stdint.h>

#include "weft_rt_desc.h"

static void k_bump(void* const* buf, const int64_t* dims) { *(int64_t*)buf[1] = *(const int64_t*)buf[0] + 1; }

static const weft_rt_dim sh_2[] = {{2, 0, NULL}};
static const int64_t st_2[] = {2};
static const char* const nm_none[] = {NULL};

static const weft_rt_value read_outputs[] = {{"y", 0, 1, sh_2, st_2, nm_none}};
static const int32_t read_output_buffers[] = {0};
static const weft_rt_buffer read_buffers[] = {{WEFT_RT_PARAM, 0, 0}};
static const weft_rt_program read_entry = {
    "read", 0, NULL, 0, NULL, 1, read_outputs, read_output_buffers, 1, read_buffers, 0, NULL, 0, NULL, NULL, 0};

static const weft_rt_value bump_outputs[] = {{"n_out", 5, 0, NULL, NULL, NULL}};
static const int32_t bump_output_buffers[] = {0};
static const weft_rt_buffer bump_buffers[] = {{WEFT_RT_PARAM, 1, 0}};
static const int32_t bump_call0_buffers[] = {0, 0};
static const weft_rt_value bump_call0_types[] = {{"", 5, 0, NULL, NULL, NULL}, {"", 5, 0, NULL, NULL, NULL}};
static const weft_rt_call bump_calls[] = {{.kind = WEFT_RT_KERNEL,
                                           .num_operands = 2,
                                           .num_inputs = 1,
                                           .buffers = bump_call0_buffers,
                                           .types = bump_call0_types,
                                           .kernel = k_bump,
                                           .what = "add (scope 'bump')",
                                           .index_operand = -1}};
static const int32_t bump_update_params[] = {1}, bump_update_buffers[] = {0};
static const weft_rt_program bump_entry = {"bump",
                                           0,
                                           NULL,
                                           0,
                                           NULL,
                                           1,
                                           bump_outputs,
                                           bump_output_buffers,
                                           1,
                                           bump_buffers,
                                           1,
                                           bump_calls,
                                           1,
                                           bump_update_params,
                                           bump_update_buffers,
                                           0};

static const weft_rt_param params[] = {{"w", {"w", 0, 1, sh_2, st_2, nm_none}, 8, -1, 0},
                                       {"n", {"n", 5, 0, NULL, NULL, NULL}, 8, -1, 1}};

static const weft_rt_program* const entries[] = {&read_entry, &bump_entry};

const weft_rt_model weft_rt_the_model = {"external", 2, entries, 2, params, NULL, 0};
