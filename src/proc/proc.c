/* SPDX-License-Identifier: Apache-2.0 */
/* proc.c - registers what every process module adds to the engine. */
#include "kanri.h"

#include "core/schema.h"

void kn_proc_incident_register(void);
void kn_proc_knowledge_register(void);
void kn_proc_request_register(void);
void kn_proc_problem_register(void);
void kn_proc_survey_register(void);
void kn_proc_sla_register(void);

void kn_proc_register_all(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	kn_proc_incident_register();
	kn_proc_knowledge_register();
	kn_proc_request_register();
	kn_proc_problem_register();
	kn_proc_survey_register();
	kn_proc_sla_register();
}
