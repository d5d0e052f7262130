/*
 * core/search/dialects.c: the dialects of the search language, as data.
 *
 * Each mirrors one of MLflow's Search*Utils classes (mlflow/utils/
 * search_utils.py) and the store code that applies it: which prefixes select
 * which entity, which keys exist, which comparators each kind of key takes,
 * and the wording of the errors. A new searchable object is a new table here.
 */
#include "core/search/search.h"

#define OPS_STRING_LIST (CN_SEARCH_OPS_STRING | CN_SEARCH_OPS_LIST)
#define KEY_FO          (CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_ORDER)

/* MLflow's message when a list is compared with any attribute but run_id,
 * which search_experiments shares although experiments have no run_id. */
#define DIALECT_LIST_ERROR \
	"Only the 'run_id' attribute supports comparison with a list of quoted string values."

/* ---- search_experiments (SearchExperimentsUtils, SqlAlchemyStore) ----- */

static const cn_search_key dialect_experiment_keys[] = {
        {.name = "name", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "creation_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "last_update_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        /* Order only; numeric because ids order as numbers ("9" < "10"). */
        {.name = "experiment_id", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        {0},
};

const cn_search_dialect cn_search_dialect_experiments = {
        .name = "experiments",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        /* Only the singular: MLflow rejects attributes.x here. */
                                        .prefixes = (const char *const[]){"attribute", NULL},
                                        .keys = dialect_experiment_keys,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                        .list_error = DIALECT_LIST_ERROR,
                                        .op_label_string = "string attribute",
                                        .op_label_numeric = "numeric attribute",
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tag", "tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .null_checks = true,
                                        .op_label_string = "tag",
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .trim_prefix_backticks = false,
        .quote_invalid_clauses = false,
        .entity_error = "Valid entity types are ('attribute', 'tag', 'tags')",
        .null_check_error = "IS NULL / IS NOT NULL is only supported for tags",
        .default_order = (const char *const[]){"creation_time DESC", "experiment_id ASC", NULL},
        .tiebreak_order = (const char *const[]){"experiment_id DESC", NULL},
};

/* ---- search_runs (SearchUtils, RunInfo's searchable attributes) -------- */

static const cn_search_key dialect_run_keys[] = {
        {.name = "run_id", .kind = CN_SEARCH_STRING, .flags = KEY_FO | CN_SEARCH_KEY_LIST},
        {.name = "run_name", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "user_id", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "status", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "artifact_uri", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "start_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "end_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        /* MLflow's aliases (translate_key_alias); "run name" filters only. */
        {.name = "created", .canonical = "start_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "Created", .canonical = "start_time", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "run name",
         .canonical = "run_name",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER},
        {.name = "Run name",
         .canonical = "run_name",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER},
        {.name = "Run Name",
         .canonical = "run_name",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER},
        {0},
};

static const cn_search_key dialect_dataset_keys[] = {
        {.name = "name",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST},
        {.name = "digest",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST},
        /* The input's mlflow.data.context tag ("train", "eval"). */
        {.name = "context",
         .kind = CN_SEARCH_STRING,
         .flags = CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST},
        {0},
};

const cn_search_dialect cn_search_dialect_runs = {
        .name = "runs",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        .prefixes = (const char *const[]){"attribute", "attributes",
                                                                          "attr", "run", NULL},
                                        .keys = dialect_run_keys,
                                        .string_ops = OPS_STRING_LIST,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                        .list_error = DIALECT_LIST_ERROR,
                                },
                        [CN_SEARCH_METRIC] =
                                {
                                        .name = "metric",
                                        .prefixes =
                                                (const char *const[]){"metric", "metrics", NULL},
                                        .kind = CN_SEARCH_NUMERIC,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                },
                        [CN_SEARCH_PARAM] =
                                {
                                        .name = "parameter",
                                        .prefixes = (const char *const[]){"parameter", "parameters",
                                                                          "param", "params", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .null_checks = true,
                                        .orderable = true,
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tag", "tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .null_checks = true,
                                        .orderable = true,
                                },
                        [CN_SEARCH_DATASET] =
                                {
                                        .name = "dataset",
                                        .prefixes =
                                                (const char *const[]){"dataset", "datasets", NULL},
                                        .keys = dialect_dataset_keys,
                                        .string_ops = OPS_STRING_LIST,
                                        .value_label = "dataset attributes",
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .trim_prefix_backticks = true,
        .quote_invalid_clauses = true,
        .entity_error = "Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
        .null_check_error = "IS NULL / IS NOT NULL is only supported for tags and params",
        /* Newest first, then run id; MLflow appends both unless present. */
        .default_order = (const char *const[]){"attribute.start_time DESC", NULL},
        .tiebreak_order =
                (const char *const[]){"attribute.start_time DESC", "attribute.run_id ASC", NULL},
};

/* ---- search_logged_models (search_logged_model_utils.py, SqlLoggedModel) */

static const cn_search_key dialect_logged_model_keys[] = {
        {.name = "name", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "model_id", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "model_type", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        /* The status enum's name, e.g. 'LOGGED_MODEL_READY'. */
        {.name = "status", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "source_run_id", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "experiment_id", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "artifact_location", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "creation_timestamp_ms", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "last_updated_timestamp_ms", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        /* SqlLoggedModel.ALIASES. */
        {.name = "creation_timestamp",
         .canonical = "creation_timestamp_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        {.name = "creation_time",
         .canonical = "creation_timestamp_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        {.name = "last_updated_timestamp",
         .canonical = "last_updated_timestamp_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        {0},
};

/* MLflow's logged-model filters take only the plural prefixes; metrics are
 * numeric, params and tags strings; no IN lists and no IS NULL. order_by is
 * structured (field_name, ascending, dataset scope), parsed by the tracking
 * service, which uses this dialect's keys for attribute names. */
const cn_search_dialect cn_search_dialect_logged_models = {
        .name = "logged_models",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        .prefixes = (const char *const[]){"attributes", NULL},
                                        .keys = dialect_logged_model_keys,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                },
                        [CN_SEARCH_METRIC] =
                                {
                                        .name = "metric",
                                        .prefixes = (const char *const[]){"metrics", NULL},
                                        .kind = CN_SEARCH_NUMERIC,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                },
                        [CN_SEARCH_PARAM] =
                                {
                                        .name = "parameter",
                                        .prefixes = (const char *const[]){"params", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .trim_prefix_backticks = false,
        .quote_invalid_clauses = false,
        .entity_error = "Expected one of ['attributes', 'metrics', 'params', 'tags'].",
        .null_check_error = "IS NULL / IS NOT NULL is supported for no logged model field",
        .default_order = (const char *const[]){"creation_timestamp_ms DESC", NULL},
        .tiebreak_order = (const char *const[]){"creation_timestamp_ms DESC", "model_id ASC", NULL},
};

/* ---- search_registered_models (SearchModelUtils, SqlAlchemyStore) ------ */

static const cn_search_key dialect_registered_model_keys[] = {
        {.name = "name", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "creation_timestamp", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        {.name = "last_updated_timestamp", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        /* MLflow's alias of last_updated_timestamp in order_by. */
        {.name = "timestamp",
         .canonical = "last_updated_timestamp",
         .kind = CN_SEARCH_NUMERIC,
         .flags = CN_SEARCH_KEY_ORDER},
        {0},
};

const cn_search_dialect cn_search_dialect_registered_models = {
        .name = "registered_models",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        .prefixes = (const char *const[]){"attribute", "attributes",
                                                                          NULL},
                                        .keys = dialect_registered_model_keys,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                        .op_label_string = "attribute",
                                        .op_label_numeric = "attribute",
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tag", "tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .op_label_string = "tag",
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .entity_error = "Valid entity types are ('attribute', 'tag', 'tags')",
        .null_check_error = "IS NULL / IS NOT NULL is not supported",
        .default_order = (const char *const[]){"name ASC", NULL},
        .tiebreak_order = (const char *const[]){"name ASC", NULL},
};

/* ---- search_model_versions (SearchModelVersionUtils) -------------------- */

static const cn_search_key dialect_model_version_keys[] = {
        {.name = "name", .kind = CN_SEARCH_STRING, .flags = KEY_FO},
        {.name = "version_number", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "run_id",
         .kind = CN_SEARCH_STRING,
         .ops = CN_SEARCH_OPBIT(CN_SEARCH_EQ) | CN_SEARCH_OPBIT(CN_SEARCH_NE) | CN_SEARCH_OPS_LIST,
         .flags = CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST},
        {.name = "source_path", .kind = CN_SEARCH_STRING, .flags = CN_SEARCH_KEY_FILTER},
        {.name = "creation_timestamp", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        {.name = "last_updated_timestamp", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        {.name = "timestamp",
         .canonical = "last_updated_timestamp",
         .kind = CN_SEARCH_NUMERIC,
         .flags = CN_SEARCH_KEY_ORDER},
        {0},
};

const cn_search_dialect cn_search_dialect_model_versions = {
        .name = "model_versions",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        .prefixes = (const char *const[]){"attribute", "attributes",
                                                                          NULL},
                                        .keys = dialect_model_version_keys,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                        .op_label_string = "attribute",
                                        .op_label_numeric = "attribute",
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tag", "tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = CN_SEARCH_OPS_STRING,
                                        .op_label_string = "tag",
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .entity_error = "Valid entity types are ('attribute', 'tag', 'tags')",
        .null_check_error = "IS NULL / IS NOT NULL is not supported",
        .default_order = (const char *const[]){"name ASC", "version_number DESC", NULL},
        .tiebreak_order = (const char *const[]){"name ASC", "version_number DESC", NULL},
};
