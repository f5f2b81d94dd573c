"""`db.wide`: statements with more parameters than psycopg caches the parsing of."""

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from autostock.db import wide


def test_each_name_gets_one_number_and_percent_signs_stay_literal():
    text, names = wide.numbered("SELECT %(a)s, %(b)s, %(a)s WHERE x LIKE 'p%%' AND %(c)s")
    assert text == "SELECT $1, $2, $1 WHERE x LIKE 'p%' AND $3"
    assert names == ("a", "b", "c")


@pytest.mark.parametrize("query", ["SELECT %s", "SELECT %(a)b", "SELECT 5 % 3", "SELECT 1 %"])
def test_any_other_placeholder_is_refused(query):
    with pytest.raises(ValueError, match="only %"):
        wide.numbered(query)


def test_a_wide_statement_round_trips_its_values_as_their_types(database_url):
    """Sixty parameters (psycopg parses anything over fifty on every execute), repeated names,
    None, text, a bigint past 2**31 and JSON, rows in the connection's row factory."""
    params = {f"p{i}": i * 1_000_000_000 for i in range(57)}
    params.update(name="삼성전자", missing=None, doc=Jsonb({"k": [1, 2]}), unused="not in the statement")
    columns = ", ".join(f"%(p{i})s::bigint AS p{i}" for i in range(57))
    query = (f"SELECT {columns}, %(name)s::text AS name, %(name)s::text || '%%' AS again,"
             " %(missing)s::int AS missing, %(doc)s::jsonb AS doc")
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        row = wide.execute(conn, query, params).fetchone()
    assert [row[f"p{i}"] for i in range(57)] == [i * 1_000_000_000 for i in range(57)]
    assert (row["name"], row["again"], row["missing"], row["doc"]) == ("삼성전자", "삼성전자%", None, {"k": [1, 2]})


def test_a_parameter_the_statement_names_and_the_call_lacks_sends_nothing(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (a int, b int)")
        with pytest.raises(KeyError, match="b"):
            wide.execute(conn, "INSERT INTO t VALUES (%(a)s, %(b)s)", {"a": 1})
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
