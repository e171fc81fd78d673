"""The committed SDL is the schema the code builds (regenerate: python -m graphql_schema.schema)."""

from __future__ import annotations

from graphql import build_schema as parse_sdl

from graphql_schema.schema import SCHEMA_FILE, printed_schema


class TestPrintedSchema:
    def test_schema_graphql_is_up_to_date(self):
        # given
        committed = SCHEMA_FILE.read_text()

        # when
        current = printed_schema()

        # then
        assert committed == current, (
            "graphql_schema/schema.graphql is stale: run `python -m graphql_schema.schema`"
        )

    def test_every_type_and_field_is_described(self):
        # given
        schema = parse_sdl(printed_schema())

        # when
        undescribed = [
            f"{name}.{field_name}" if field_name else name
            for name, gql_type in schema.type_map.items()
            if not name.startswith("__") and name not in {"String", "Int", "Boolean", "ID"}
            for field_name, field in [(None, gql_type), *getattr(gql_type, "fields", {}).items()]
            if not field.description
        ]

        # then
        assert undescribed == []
