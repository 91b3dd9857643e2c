# The upstream image runs workers as user nginx and logs to the container's stdout/stderr.
grep -q '^nginx:' "$1/etc/group" || echo 'nginx:x:101:' >>"$1/etc/group"
grep -q '^nginx:' "$1/etc/passwd" || echo 'nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin' >>"$1/etc/passwd"
ln -sf /dev/stdout "$1/var/log/nginx/access.log"
ln -sf /dev/stderr "$1/var/log/nginx/error.log"
rm -f "$1/etc/nginx/sites-enabled/default"
