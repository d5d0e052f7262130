/* core/plugin/host_internal.h: pieces of the host table defined in more than one file. */
#ifndef CN_PLUGIN_HOST_INTERNAL_H
#define CN_PLUGIN_HOST_INTERNAL_H

#include "cairn/plugin.h"

/* The host's http op (host_http.c), as cairn_host_api.http documents it. */
int cn_host_http(const cairn_http_request *req, cairn_http_response *resp, cairn_error *err);

#endif
