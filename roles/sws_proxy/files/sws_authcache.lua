-- The proxies' memory of basic-auth credentials nginx's own auth_basic has just accepted
-- (issue 27): auth_basic runs bcrypt (about 50 ms of CPU) on every request, with no cache.
--
-- A route with spec.access.basicAuth includes authcache.conf: lookup() runs in the rewrite
-- phase and gives auth_basic its realm, or "off" (nginx then skips auth_basic at request time)
-- when this exact Authorization header passed auth_basic for this exact htpasswd within the
-- last TTL seconds; store() runs after auth_basic has allowed a request. Failures are never
-- remembered: each costs auth_basic's check and gets its 401, as without this file.
--
-- The key is SHA-1 over a secret drawn when nginx loads its configuration, the route's
-- $sws_auth_scope (the service and a digest of its htpasswd, which the agent renders) and the
-- header: a changed htpasswd (a user removed, a password changed) or a reload makes every
-- entry unreachable, the dictionary holds no credentials, and no one can aim a header at a
-- stored key: without the secret no key can be computed offline (and no key ever leaves the
-- proxy, so a length extension has nothing to extend). ngx.sha1_bin rather than
-- ngx.hmac_sha1: OpenSSL 3's HMAC costs about 4 us more a request (measured, 2026-12-06).
local _M = {}

local dict = ngx.shared.sws_auth
local secret
local ttl

-- Called by init_by_lua in the master process, so every worker shares the secret.
function _M.init(seconds)
    assert(dict, "lua_shared_dict sws_auth is missing")
    local urandom = assert(io.open("/dev/urandom", "rb"))
    secret = assert(urandom:read(32))
    urandom:close()
    assert(#secret == 32, "short read from /dev/urandom")
    ttl = seconds
end

local function key()
    local header = ngx.var.http_authorization
    if not header then
        return nil
    end
    return ngx.sha1_bin(secret .. ngx.var.sws_auth_scope .. "\n" .. header)
end

-- set_by_lua: the realm auth_basic is to use for this request.
function _M.lookup()
    local cached = key()
    if cached and dict:get(cached) then
        return "off"
    end
    return ngx.var.sws_auth_realm
end

-- access_by_lua, at the end of the access phase: reached only when auth_basic allowed (or was
-- skipped by a hit, which needs no new entry).
function _M.store()
    if ngx.var.sws_auth_realm == "off" then
        return
    end
    local cached = key()
    if cached then
        -- A full dictionary evicts its least recently used entries: a miss, never an error.
        dict:set(cached, true, ttl)
    end
end

return _M
