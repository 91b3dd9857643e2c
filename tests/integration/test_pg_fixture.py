import psycopg2


def test_database_is_real_postgres(database_url):
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("select version()")
        assert "PostgreSQL" in cur.fetchone()[0]
    conn.close()
