/* core/services.c: the registry of built-in services, by name. Add a service
 * here once its folder under core/ defines its cn_service_def. */
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking.h"
#include "core/registry/registry.h"
#include "core/audit/audit.h"
#include "core/prompts/prompts.h"
#include "core/traces/traces.h"

const cn_service_def *const cn_builtin_services[] = {
        &cn_tracking_service,
        &cn_registry_service,
        &cn_audit_service,
        &cn_prompts_service, /* after registry and tracking: calls both */
        &cn_traces_service,  /* core/traces: MLflow 3 traces, span ingestion */
        NULL,
};

const cn_service_def *cn_service_find(const char *name)
{
	for (size_t i = 0; cn_builtin_services[i]; i++)
		if (strcmp(cn_builtin_services[i]->name, name) == 0)
			return cn_builtin_services[i];
	return NULL;
}
