"""The v1 service definition: every rule of swscore/spec.py, with the seed's own example."""

import pytest
import yaml

from swscore.spec import API_VERSION, Definition, SpecError, load_definition

# The example from the seed README, as written there (its second variable has `bar: bar`).
SEED_EXAMPLE = """\
apiVersion: v1
spec:
  name: service-name
  port: 8081
  domain: example.com
  image: my-repo/my-image:somve-version
  volumeMount: /foo/bar
  env:
    - name: KEY_1
      value: foo
    - name: KEY_2
      bar: bar
"""


def definition(**spec) -> dict:
    base = {"name": "web", "port": 8080, "domain": "web.example.com", "image": "nginx:1.25"}
    base.update(spec)
    return {"apiVersion": "v1", "spec": {k: v for k, v in base.items() if v is not ...}}


def refused(document) -> dict[str, str]:
    with pytest.raises(SpecError) as err:
        load_definition(document)
    return err.value.fields


def test_seed_example_is_refused_naming_the_bad_env_field():
    fields = refused(yaml.safe_load(SEED_EXAMPLE))
    assert fields["spec.env[1].bar"] == "unknown field"
    assert fields["spec.env[1].value"] == "required field is missing"
    assert all(path.startswith("spec.env[1].") for path in fields)


def test_seed_example_is_accepted_once_fixed():
    fixed = yaml.safe_load(SEED_EXAMPLE.replace("bar: bar", "value: bar"))
    loaded = load_definition(fixed)
    assert loaded == Definition(
        name="service-name",
        port=8081,
        domain="example.com",
        image="my-repo/my-image:somve-version",
        volume_mount="/foo/bar",
        env=loaded.env,
    )
    assert [(e.name, e.value) for e in loaded.env] == [("KEY_1", "foo"), ("KEY_2", "bar")]


def test_spec_error_message_lists_every_field():
    with pytest.raises(SpecError) as err:
        load_definition(definition(port=0, name="Bad"))
    assert "spec.port" in str(err.value) and "spec.name" in str(err.value)


@pytest.mark.parametrize("document", [None, [], "apiVersion: v1", 42])
def test_a_document_that_is_not_a_mapping_is_refused(document):
    assert "(document)" in refused(document)


def test_api_version_is_required_and_must_be_v1():
    assert refused({"spec": definition()["spec"]})["apiVersion"] == "required field is missing"
    assert "unsupported version" in refused({**definition(), "apiVersion": "v2"})["apiVersion"]
    assert API_VERSION == "v1"


def test_spec_is_required_and_unknown_top_level_fields_are_refused():
    assert refused({"apiVersion": "v1"})["spec"] == "required field is missing"
    assert refused({**definition(), "kind": "Service"})["kind"] == "unknown field"
    assert refused({"apiVersion": "v1", "spec": "web"})["spec"] == "must be a mapping"


@pytest.mark.parametrize("field", ["name", "port", "image"])
def test_required_spec_fields(field):
    assert refused(definition(**{field: ...}))[f"spec.{field}"] == "required field is missing"


def test_a_service_without_a_domain_is_private_and_keeps_old_digests():
    private = load_definition(definition(domain=..., stack="shop"))
    assert private.domain is None and private.stack == "shop"
    assert "domain" not in private.spec_dict()
    assert load_definition(definition(domain=None)).domain is None
    # An old spec (domain, no stack, no update) hashes as it did before the fields existed.
    old = load_definition(definition())
    assert set(old.spec_dict()) == {"name", "port", "domain", "image", "env"}
    refusal = refused(definition(domain=..., tls={"certificate": "acme"}))
    assert refusal["spec.tls"] == "a service without a domain has no certificate"


@pytest.mark.parametrize(
    ("update", "volume", "strategy"),
    [
        (None, None, "rolling"),
        (None, "/data", "recreate"),
        ("rolling", "/data", "rolling"),
        ("recreate", None, "recreate"),
    ],
)
def test_update_strategy_defaults_to_recreate_for_a_volume(update, volume, strategy):
    spec = definition(update=update or ..., volumeMount=volume or ...)
    assert load_definition(spec).update_strategy == strategy


@pytest.mark.parametrize("value", ["Shop", "-a", "a-", "a" * 33, "a.b", "a b", "", "ä", 3, True])
def test_stack_must_be_a_short_dns_label(value):
    assert "spec.stack" in refused(definition(stack=value))


@pytest.mark.parametrize("value", ["Rolling", "stop-first", "", 1])
def test_update_is_rolling_or_recreate(value):
    assert "spec.update" in refused(definition(update=value))


def test_unknown_spec_field_is_refused():
    doc = definition()
    doc["spec"]["replica"] = 2
    assert refused(doc)["spec.replica"] == "unknown field"


@pytest.mark.parametrize("name", ["web", "a", "my-service-2", "0abc", "a" * 63])
def test_name_accepts_dns_labels(name):
    assert load_definition(definition(name=name)).name == name


@pytest.mark.parametrize(
    "name", ["", "Web", "-web", "web-", "my_service", "web.app", "a" * 64, "wéb", "web\n", 7]
)
def test_name_must_be_a_dns_label(name):
    assert "spec.name" in refused(definition(name=name))


@pytest.mark.parametrize("port", [1, 80, 8081, 65535])
def test_port_accepts_1_to_65535(port):
    assert load_definition(definition(port=port)).port == port


@pytest.mark.parametrize("port", [0, -1, 65536, 10**9, "8080", 8080.0, 80.5, True, None])
def test_port_is_a_strict_whole_number_from_1_to_65535(port):
    assert "spec.port" in refused(definition(port=port))


@pytest.mark.parametrize(
    "domain",
    ["example.com", "a.b.c.example.com", "hello.sws.localhost", "xn--bcher-kva.example", "1.2.a4"],
)
def test_domain_accepts_lowercase_hostnames(domain):
    assert load_definition(definition(domain=domain)).domain == domain


@pytest.mark.parametrize(
    ("domain", "says"),
    [
        ("Example.com", "lowercase"),
        ("http://example.com", "no scheme"),
        ("example.com:8080", "no scheme, port or path"),
        ("example.com/path", "no scheme, port or path"),
        ("*.example.com", "wildcard"),
        ("a.com; include /etc/passwd", "no scheme, port or path"),
        ("a.com;include", "RFC 1123"),
        ("a.com\nserver_name evil", "control characters"),
        ("example.com\n", "control characters"),
        ("exa mple.com", "RFC 1123"),
        ("-a.example.com", "RFC 1123"),
        ("a..example.com", "RFC 1123"),
        ("example.com.", "RFC 1123"),
        ("a_b.example.com", "RFC 1123"),
        ("", "253"),
        ("a" * 64 + ".com", "RFC 1123"),
        (".".join(["a" * 60] * 5), "253"),
    ],
)
def test_domain_must_be_a_bare_lowercase_hostname(domain, says):
    assert says in refused(definition(domain=domain))["spec.domain"]


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.25",
        "library/nginx:latest",
        "my-repo/my-image:somve-version",
        "registry.example.com/team/app:1.2",
        "registry.local:5000/app",
        "sws-local/nginx:bookworm",
        "app@sha256:" + "a" * 64,
        "registry.example.com:5000/team/app:v1@sha256:" + "0" * 64,
    ],
)
def test_image_accepts_docker_references(image):
    assert load_definition(definition(image=image)).image == image


@pytest.mark.parametrize(
    "image",
    [
        "",
        "Nginx",
        "Team/app",
        "nginx:",
        "nginx:-bad",
        "nginx; rm -rf /",
        "nginx latest",
        "app@sha256:short",
        "-nginx",
        "a" * 256,
        "nginx\n",
    ],
)
def test_image_must_be_a_docker_reference(image):
    assert "spec.image" in refused(definition(image=image))


@pytest.mark.parametrize("path", ["/data", "/foo/bar", "/var/lib/app-1/x_y.z", "/data/"])
def test_volume_mount_accepts_absolute_paths(path):
    assert load_definition(definition(volumeMount=path)).volume_mount == path


def test_volume_mount_is_optional():
    assert load_definition(definition()).volume_mount is None
    assert load_definition(definition(volumeMount=None)).volume_mount is None


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("data", "absolute"),
        ("", "absolute"),
        ("/", "must not be '/'"),
        ("//", "must not be '/'"),
        ("/data/../etc", "'..'"),
        ("/..", "'..'"),
        ("/./data", "'.'"),
        ("/data dir", "letters, digits"),
        ("/data;rm", "letters, digits"),
        ("/data\n", "control characters"),
        ("/" + "a" * 1024, "letters, digits"),
    ],
)
def test_volume_mount_must_be_absolute_not_root_without_dot_segments(path, says):
    assert says in refused(definition(volumeMount=path))["spec.volumeMount"]


def test_env_is_optional_and_empty_env_is_normalised():
    assert load_definition(definition()).env == ()
    assert load_definition(definition(env=None)).env == ()
    assert load_definition(definition(env=[])).spec_dict()["env"] == []


@pytest.mark.parametrize("name", ["KEY", "key_1", "_X", "A1"])
def test_env_names_accept_identifiers(name):
    env = load_definition(definition(env=[{"name": name, "value": "v"}])).env
    assert env[0].name == name


@pytest.mark.parametrize("name", ["1KEY", "KEY-1", "KEY 1", "", "KEY=1", "KÉY", 5])
def test_env_names_must_be_identifiers(name):
    assert "spec.env[0].name" in refused(definition(env=[{"name": name, "value": "v"}]))


def test_env_names_must_be_unique():
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "3"}]
    assert "A is set twice" in refused(definition(env=env))["spec.env"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [("foo", "foo"), (8080, "8080"), (1.5, "1.5"), (True, "true"), (False, "false"), ("", "")],
)
def test_env_values_are_scalars_kept_as_strings(value, kept):
    loaded = load_definition(definition(env=[{"name": "K", "value": value}]))
    assert loaded.env[0].value == kept
    assert loaded.spec_dict()["env"] == [{"name": "K", "value": kept}]


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, "a\x00b", "\ud800"])
def test_env_values_must_be_scalars_without_nul_or_broken_unicode(value):
    assert "spec.env[0].value" in refused(definition(env=[{"name": "K", "value": value}]))


def test_env_value_may_hold_newlines_but_not_be_huge():
    assert load_definition(definition(env=[{"name": "K", "value": "a\nb"}])).env[0].value == "a\nb"
    assert "spec.env[0].value" in refused(definition(env=[{"name": "K", "value": "x" * 40000}]))


def test_env_entries_must_be_mappings_with_name_and_value():
    assert "spec.env" in refused(definition(env="A=1"))
    assert "spec.env[0]" in refused(definition(env=["A=1"]))
    assert refused(definition(env=[{"value": "1"}]))["spec.env[0].name"] == (
        "required field is missing"
    )


def test_too_many_env_variables_are_refused():
    env = [{"name": f"K{i}", "value": "v"} for i in range(201)]
    assert "at most 200" in refused(definition(env=env))["spec.env"]


def test_every_bad_field_is_reported_at_once():
    fields = refused(definition(name="Bad", port=0, domain="Bad", image="", volumeMount="x"))
    assert set(fields) == {
        "spec.name",
        "spec.port",
        "spec.domain",
        "spec.image",
        "spec.volumeMount",
    }


def test_spec_dict_and_digest_are_stable_and_change_with_the_spec():
    a = load_definition(definition(env=[{"name": "K", "value": 1}]))
    b = load_definition(definition(env=[{"name": "K", "value": "1"}]))
    c = load_definition(definition(env=[{"name": "K", "value": "2"}]))
    assert a.digest() == b.digest() != c.digest()
    assert a.spec_dict() == {
        "name": "web",
        "port": 8080,
        "domain": "web.example.com",
        "image": "nginx:1.25",
        "env": [{"name": "K", "value": "1"}],
    }
    assert load_definition(a.document()) == a


@pytest.mark.parametrize("pattern", ["NAME_RE", "DOMAIN_LABEL_RE", "ENV_NAME_RE", "IMAGE_RE"])
def test_patterns_refuse_a_trailing_newline(pattern):
    import swscore.spec

    assert not getattr(swscore.spec, pattern).match("web\n")
    assert getattr(swscore.spec, pattern).match("web")


def test_a_spec_without_resources_keeps_the_digest_it_had_before_them():
    # The digest of the example spec as every earlier version computed it: a spec that does
    # not use `resources` must not redeploy on upgrade.
    plain = load_definition(definition(env=[{"name": "K", "value": "1"}]))
    assert "resources" not in plain.spec_dict() and plain.resources is None
    assert plain.digest() == (
        __import__("hashlib")
        .sha256(
            b'{"domain":"web.example.com","env":[{"name":"K","value":"1"}],'
            b'"image":"nginx:1.25","name":"web","port":8080}'
        )
        .hexdigest()
    )
    assert (
        load_definition(definition(resources={})).digest() == load_definition(definition()).digest()
    )
    assert load_definition(definition(resources=None)).resources is None


@pytest.mark.parametrize(
    ("given", "stored", "memory_bytes"),
    [
        ({"memory": "256Mi"}, {"memory": "256Mi"}, 256 * 2**20),
        ({"memory": "512M", "cpus": "0.50"}, {"memory": "512M", "cpus": "0.5"}, 512 * 10**6),
        ({"memory": "1Gi", "cpus": 2}, {"memory": "1Gi", "cpus": "2"}, 2**30),
        ({"memory": "268435456"}, {"memory": "268435456"}, 268435456),
        ({"cpus": 0.25}, {"cpus": "0.25"}, None),
    ],
)
def test_resources_are_kept_as_written_and_cpus_normalised(given, stored, memory_bytes):
    loaded = load_definition(definition(resources=given))
    assert loaded.spec_dict()["resources"] == stored
    assert loaded.resources.memory_bytes == memory_bytes
    assert load_definition(loaded.document()) == loaded


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"memory": "256m"}, "spec.resources.memory", "must be a memory size"),
        ({"memory": 256}, "spec.resources.memory", "must be a memory size"),
        ({"memory": "1Ti"}, "spec.resources.memory", "must be a memory size"),
        ({"memory": "4Mi"}, "spec.resources.memory", "must be at least 8Mi"),
        ({"cpus": "0"}, "spec.resources.cpus", "must be at least 0.01"),
        ({"cpus": "half"}, "spec.resources.cpus", "must be a number of CPUs"),
        ({"cpus": True}, "spec.resources.cpus", "must be a number of CPUs"),
        ({"cpus": "0.1234"}, "spec.resources.cpus", "at most 3 decimals"),
        ({"disk": "1Gi"}, "spec.resources.disk", "it needs a volumeMount"),
        ({"swap": "1Gi"}, "spec.resources.swap", "unknown field"),
    ],
)
def test_bad_resources_are_refused_naming_the_field(given, field, says):
    fields = refused(definition(resources=given))
    assert list(fields) == [field] and says in fields[field]


def test_resources_must_be_a_mapping():
    assert refused(definition(resources="big")) == {"spec.resources": "must be a mapping"}


def test_init_is_optional_strict_and_leaves_older_digests_alone():
    spec = {"name": "a", "port": 80, "domain": "a.test", "image": "x:1"}
    base = {"apiVersion": "v1", "spec": spec}
    plain = load_definition(base)
    assert plain.init is None and "init" not in plain.spec_dict()
    on = load_definition({**base, "spec": {**base["spec"], "init": True}})
    assert on.init is True and on.spec_dict()["init"] is True and on.digest() != plain.digest()
    off = load_definition({**base, "spec": {**base["spec"], "init": False}})
    assert off.spec_dict()["init"] is False  # shown back as written
    for bad in ("yes", 1, "true"):
        with pytest.raises(SpecError) as err:
            load_definition({**base, "spec": {**base["spec"], "init": bad}})
        assert "spec.init" in err.value.fields
