# Match the upstream image's layout: binaries on PATH, data under /var/lib/postgresql/data.
mkdir -p "$1/var/lib/postgresql/data"
chroot "$1" chown -R postgres:postgres /var/lib/postgresql
