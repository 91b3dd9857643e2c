# Upstream keeps the configuration in /usr/local/etc/haproxy.
mkdir -p "$1/usr/local/etc/haproxy" "$1/var/lib/haproxy"
rm -f "$1/etc/haproxy/errors/"*.http.dpkg* 2>/dev/null || true
