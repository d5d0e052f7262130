/* core/fb/fb_schema_test.c: generated descriptors, typed accessors, look-ups. */
#include "schemas/cairn_schema.h"

#include "cn_test.h"

CN_TEST(table_lookup_by_qualified_and_short_name)
{
	const cn_schema *s = &cn_schema_cairn;
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "cairn.bus.Envelope"), CN_TABLE_Envelope);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "Envelope"), CN_TABLE_Envelope);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "cairn.Empty"), CN_TABLE_Empty);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "CreateExperiment"), CN_TABLE_CreateExperiment);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "cairn.tracking.Nope"), -1);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "Nope"), -1);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, "tracking.CreateExperiment"), -1);
	CN_CHECK_EQ_INT(cn_schema_table_index(s, NULL), -1);
	CN_CHECK_EQ_INT(cn_schema_table_index(NULL, "Envelope"), -1);
	/* tables are sorted by qualified name (the look-up relies on it) */
	for (size_t i = 1; i < s->ntables; i++)
		CN_CHECK(strcmp(s->tables[i - 1].name, s->tables[i].name) < 0);
	for (size_t i = 0; i < s->ntables; i++)
		CN_CHECK_EQ_INT(cn_schema_table_index(s, s->tables[i].name), i);
}

CN_TEST(field_descriptors)
{
	const cn_schema_table *t = &cn_schema_cairn.tables[CN_TABLE_SearchExperiments];
	CN_CHECK_STR(t->short_name, "SearchExperiments");
	for (uint16_t i = 1; i < t->nfields; i++)
		CN_CHECK(t->fields[i - 1].id < t->fields[i].id);
	const cn_schema_field *f = cn_schema_field_by_name(t, "max_results", 11);
	CN_CHECK(f != NULL);
	CN_CHECK_EQ_INT(f->type, CN_FT_I64);
	CN_CHECK(f->flags & CN_FF_OPTIONAL);
	f = cn_schema_field_by_name(t, "order_by_x", 8); /* length-bounded */
	CN_CHECK(f != NULL && f->type == CN_FT_VECTOR && f->elem == CN_FT_STRING);
	f = cn_schema_field_by_name(t, "view_type", 9);
	CN_CHECK(f != NULL && f->type == CN_FT_I32);
	CN_CHECK_EQ_INT(f->enum_index, CN_ENUM_ViewType);
	CN_CHECK(cn_schema_field_by_name(t, "view", 4) == NULL);
	CN_CHECK(cn_schema_field_by_name(t, "view_type\0zz", 12) == NULL);
	CN_CHECK(cn_schema_field_by_name(t, "filter", 6) != NULL);

	t = &cn_schema_cairn.tables[CN_TABLE_CreateExperiment];
	f = cn_schema_field_by_name(t, "name", 4);
	CN_CHECK(f && (f->flags & CN_FF_REQUIRED) && f->type == CN_FT_STRING);
	f = cn_schema_field_by_name(t, "tags", 4);
	CN_CHECK(f && f->type == CN_FT_VECTOR && f->elem == CN_FT_TABLE);
	CN_CHECK_EQ_INT(f->table, CN_TABLE_ExperimentTag);
	CN_CHECK_STR(cn_schema_attr_get(t->attrs, t->nattrs, "service"), "tracking");
	CN_CHECK_STR(cn_schema_attr_get(t->attrs, t->nattrs, "response"),
	             "CreateExperimentResponse");
	CN_CHECK(cn_schema_attr_get(t->attrs, t->nattrs, "nope") == NULL);
	CN_CHECK(cn_schema_attr_get(NULL, 0, "service") == NULL);

	t = &cn_schema_cairn.tables[CN_TABLE_Envelope];
	f = cn_schema_field_by_name(t, "kind", 4);
	CN_CHECK(f && f->type == CN_FT_I8 && f->enum_index == CN_ENUM_Kind &&
	         !(f->flags & CN_FF_OPTIONAL));
	CN_CHECK_EQ_INT(cn_schema_cairn.tables[CN_TABLE_Empty].nfields, 0);
}

CN_TEST(enums)
{
	CN_CHECK_STR(cn_ViewType_name(CN_ViewType_ALL), "ALL");
	CN_CHECK_STR(cn_ViewType_name(1), "ACTIVE_ONLY");
	CN_CHECK(cn_ViewType_name(0) == NULL);
	CN_CHECK(cn_ViewType_name(4) == NULL);
	CN_CHECK_STR(cn_Kind_name(CN_Kind_EVENT), "EVENT");
	const cn_schema_enum *e = &cn_schema_cairn.enums[CN_ENUM_ViewType];
	CN_CHECK_STR(e->name, "cairn.tracking.ViewType");
	CN_CHECK_EQ_INT(e->type, CN_FT_I32);
	CN_CHECK_EQ_INT(e->nvals, 3);
	CN_CHECK_STR(e->vals[1].name, "DELETED_ONLY");
	CN_CHECK_EQ_INT(e->vals[1].value, 2);
}

CN_TEST(routes)
{
	const cn_schema *s = &cn_schema_cairn;
	int found_get = 0, found_post = 0;
	for (size_t i = 0; i < s->nroutes; i++) {
		const cn_route *r = &s->routes[i];
		CN_CHECK(r->request >= 0 && (size_t)r->request < s->ntables);
		CN_CHECK(r->response >= 0 && (size_t)r->response < s->ntables);
		if (strcmp(r->path, "/mlflow/experiments/search") == 0) {
			CN_CHECK_EQ_INT(r->request, CN_TABLE_SearchExperiments);
			CN_CHECK_EQ_INT(r->response, CN_TABLE_SearchExperimentsResponse);
			CN_CHECK_STR(r->service, "tracking");
			CN_CHECK_EQ_INT(r->api_major, 2);
			CN_CHECK_EQ_INT(r->max_body, 0);
			found_get += strcmp(r->method, "GET") == 0;
			found_post += strcmp(r->method, "POST") == 0;
		}
		if (strcmp(r->path, "/mlflow/experiments/delete") == 0)
			CN_CHECK_EQ_INT(r->response, CN_TABLE_Empty);
	}
	CN_CHECK_EQ_INT(found_get, 1);
	CN_CHECK_EQ_INT(found_post, 1);
}

CN_TEST(typed_builders_and_readers)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	uint8_t payload[5] = {1, 2, 3, 4, 5};
	cn_fb_ref rid = cn_fb_create_cstr(b, "req-1");
	cn_fb_ref method = cn_fb_create_cstr(b, "CreateExperiment");
	cn_fb_ref pl = cn_fb_create_vec_scalars(b, payload, 5, 1);
	cn_Envelope_start(b);
	cn_Envelope_add_kind(b, CN_Kind_REPLY);
	cn_Envelope_add_request_id(b, rid);
	cn_Envelope_add_method(b, method);
	cn_Envelope_add_deadline_ms(b, 1700000000123LL);
	cn_Envelope_add_payload(b, pl);
	cn_fb_ref root = cn_Envelope_end(b);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_fb_table t = cn_fb_root(buf);
	CN_CHECK_EQ_INT(cn_Envelope_kind(t), CN_Kind_REPLY);
	CN_CHECK(cn_fb_str_eq(cn_Envelope_request_id(t), "req-1"));
	CN_CHECK(cn_fb_str_eq(cn_Envelope_method(t), "CreateExperiment"));
	CN_CHECK(cn_Envelope_deadline_ms(t) == 1700000000123LL);
	CN_CHECK(cn_Envelope_has_deadline_ms(t));
	CN_CHECK(!cn_Envelope_has_sent_ms(t));
	CN_CHECK_EQ_INT(cn_Envelope_sent_ms(t), 0);
	CN_CHECK(cn_Envelope_caller(t).ptr == NULL);
	cn_fb_vec v = cn_Envelope_payload(t);
	CN_CHECK_EQ_INT(v.n, 5);
	CN_CHECK(memcmp(cn_fb_vec_elem(v, 0, 1), payload, 5) == 0);
	CN_CHECK_EQ_INT(CN_F_Envelope_request_id, 1);

	/* optional scalars: absent vs present-with-default */
	cn_fb_builder_reset(b);
	cn_SearchExperiments_start(b);
	cn_SearchExperiments_add_view_type(b, CN_ViewType_DELETED_ONLY);
	root = cn_SearchExperiments_end(b);
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	t = cn_fb_root(buf);
	CN_CHECK(!cn_SearchExperiments_has_max_results(t));
	CN_CHECK_EQ_INT(cn_SearchExperiments_max_results(t), 0);
	CN_CHECK(cn_SearchExperiments_has_view_type(t));
	CN_CHECK_EQ_INT(cn_SearchExperiments_view_type(t), CN_ViewType_DELETED_ONLY);
	cn_fb_builder_free(b);
}

CN_TEST_MAIN()
