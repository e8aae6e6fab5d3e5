/*
 * a1111_probe.h - start: is A1111 up, do our credentials work, what models does it have.
 *
 * Owns: the readiness decision (GET /sdapi/v1/options), the model list (GET /sdapi/v1/sd-models,
 * reported with set_models) and the detection of /internal/progress. Blocking calls on the
 * job thread, each bounded by probe_timeout_ms.
 */
#ifndef A1111_PROBE_H
#define A1111_PROBE_H

#include <stddef.h>

#include "a1111_state.h"
#include "ebuf.h"

emp_start_t a1111_probe(a1111_state_t *s);

/* GET /sdapi/v1/sd-models body -> a JSON array of model names (model_name, else title) in out.
 * 0, or -1 when the body is not a list. Untrusted input; exposed for tests and fuzzing. */
int a1111_models_parse(const char *body, size_t len, ebuf_t *out);

#endif
