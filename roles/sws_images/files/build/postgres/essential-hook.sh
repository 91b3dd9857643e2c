# The package would create and initdb a "main" cluster at install time: the entrypoint creates
# the only cluster this image needs, in the data volume, on first start.
mkdir -p "$1/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/sws.conf"
