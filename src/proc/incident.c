/* SPDX-License-Identifier: Apache-2.0 */
/*
 * incident.c - what incident management adds to the engine: the priority
 * matrix. Priority = matrix[impact-1][urgency-1]; the matrix is the field's
 * configuration in the declaration, so a site changes it with an overlay.
 */
#include "kanri.h"

#include "core/schema.h"

static int matrix_check(const kn_field *f, kn_error *err)
{
	json_t *m = json_object_get(f->config, "matrix");
	if (f->nargs != 2)
		return kn_fail(err, KN_EVALID, f->name, "priority_matrix takes two arguments");
	if (!json_is_array(m) || json_array_size(m) == 0)
		return kn_fail(err, KN_EVALID, f->name, "config.matrix must be a list of rows");
	size_t cols = 0, i;
	json_t *row;
	json_array_foreach(m, i, row)
	{
		if (!json_is_array(row) || json_array_size(row) == 0 ||
		    (cols && json_array_size(row) != cols))
			return kn_fail(err, KN_EVALID, f->name,
				       "config.matrix rows must be lists of equal length");
		cols = json_array_size(row);
		size_t j;
		json_t *v;
		json_array_foreach(row, j, v)
		{
			if (!json_is_integer(v) ||
			    (f->has_min && json_integer_value(v) < f->min) ||
			    (f->has_max && json_integer_value(v) > f->max))
				return kn_fail(err, KN_EVALID, f->name,
					       "config.matrix holds a value out of range");
		}
	}
	return 0;
}

static json_t *matrix_compute(const kn_field *f, const json_t *rec, kn_error *err)
{
	json_t *a = json_object_get(rec, f->args[0]), *b = json_object_get(rec, f->args[1]);
	if (!json_is_integer(a) || !json_is_integer(b))
		return json_null();
	json_t *row = json_array_get(json_object_get(f->config, "matrix"),
				     (size_t)(json_integer_value(a) - 1));
	json_t *v = json_array_get(row, (size_t)(json_integer_value(b) - 1));
	if (!json_is_integer(v)) {
		kn_fail(err, KN_EVALID, f->args[0], "%s %lld / %s %lld is outside the %s matrix",
			f->args[0], (long long)json_integer_value(a), f->args[1],
			(long long)json_integer_value(b), f->name);
		return NULL;
	}
	return json_incref(v);
}

void kn_proc_incident_register(void);
void kn_proc_incident_register(void)
{
	kn_verb_register("priority_matrix", matrix_compute, matrix_check);
}
