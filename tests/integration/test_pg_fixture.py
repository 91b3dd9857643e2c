import psycopg2


def test_database_is_real_postgres(database_url):
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("select version()")
        assert "PostgreSQL" in cur.fetchone()[0]
    conn.close()


def test_databases_can_be_copied_from_a_template_and_dropped(pg_server):
    source = pg_server.create_database("t_fixture_source")
    with psycopg2.connect(source) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE marker (id int)")
    conn.close()
    copy = pg_server.create_database("t_fixture_copy", template="t_fixture_source")
    with psycopg2.connect(copy) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM marker")
        assert cur.fetchone() == (0,)
    conn.close()
    for name in ("t_fixture_copy", "t_fixture_source"):
        pg_server.drop_database(name)
    with psycopg2.connect(pg_server.url()) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 't_fixture_%'")
        assert cur.fetchall() == []
    conn.close()
