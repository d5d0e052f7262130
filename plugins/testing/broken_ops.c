/* plugins/testing/broken_ops.c: the do-nothing ops of broken_ops.h. */
#include "broken_ops.h"

static int broken_unsupported(cairn_error *err)
{
	return cairn_error_set(err, CAIRN_ERR_UNSUPPORTED, "test plugin: not implemented");
}

int broken_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                cairn_store **store, cairn_error *err)
{
	return broken_unsupported(err);
}

void broken_close(cairn_store *store)
{
}

int broken_put_begin(cairn_store *store, const char *path, int64_t size_hint,
                     cairn_store_writer **writer, cairn_error *err)
{
	return broken_unsupported(err);
}

int broken_put_write(cairn_store_writer *writer, const void *buf, size_t len, cairn_error *err)
{
	return broken_unsupported(err);
}

int broken_put_commit(cairn_store_writer *writer, cairn_error *err)
{
	return broken_unsupported(err);
}

void broken_put_abort(cairn_store_writer *writer)
{
}

int broken_get_open(cairn_store *store, const char *path, int64_t offset, int64_t length,
                    cairn_store_reader **reader, cairn_object_info *info, cairn_error *err)
{
	return broken_unsupported(err);
}

int broken_get_read(cairn_store_reader *reader, void *buf, size_t cap, size_t *n, cairn_error *err)
{
	return broken_unsupported(err);
}

void broken_get_close(cairn_store_reader *reader)
{
}

int broken_list(cairn_store *store, const char *dir, const char *page_token, size_t max_entries,
                cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
                cairn_error *err)
{
	return broken_unsupported(err);
}

int broken_remove(cairn_store *store, const char *path, int recursive, cairn_error *err)
{
	return broken_unsupported(err);
}

int broken_deploy_open(const char *target_uri, const cairn_host_api *host, void *plugin_state,
                       cairn_deploy_target **target, cairn_error *err)
{
	return broken_unsupported(err);
}

void broken_deploy_close(cairn_deploy_target *target)
{
}

int broken_deploy_op(cairn_deploy_target *target, const cairn_deploy_args *args, cairn_write_fn out,
                     void *out_arg, cairn_error *err)
{
	return broken_unsupported(err);
}
