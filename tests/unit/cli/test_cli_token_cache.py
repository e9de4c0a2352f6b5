import json
import os
import stat

from cli.token_cache import EXPIRY_MARGIN, CachedToken, TokenCache, cache_dir

NOW = 1_700_000_000.0


def cache(
    tmp_path, *, cloud="lab", username="alice", project="demo", password="pw-1", url="h:1", now=NOW
):
    return TokenCache(
        cache_dir({"HOME": str(tmp_path)}),
        cloud=cloud,
        url=url,
        username=username,
        project=project,
        password=password,
        clock=lambda: now,
    )


def test_stored_token_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        cache(tmp_path).store(CachedToken("tok", NOW + 3600, "u1", "p1"))
    finally:
        os.umask(old)
    path = cache(tmp_path).path
    assert path.parent == tmp_path / ".cache" / "stratus" / "tokens"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["token"] == "tok"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_reused_until_shortly_before_expiry(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600, "u1", "p1"))
    assert cache(tmp_path).load() == CachedToken("tok", NOW + 3600, "u1", "p1")
    assert cache(tmp_path, now=NOW + 3600 - EXPIRY_MARGIN - 1).load().token == "tok"
    assert cache(tmp_path, now=NOW + 3600 - EXPIRY_MARGIN).load() is None
    assert cache(tmp_path, now=NOW + 7200).load() is None


def test_one_cache_per_cloud_and_identity(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600))
    assert cache(tmp_path, cloud="other").load() is None
    assert cache(tmp_path, project="admin").load() is None
    assert cache(tmp_path, username="bob").load() is None
    assert cache(tmp_path, url="h:2").load() is None
    assert cache(tmp_path, cloud="../../etc").path.parent == cache(tmp_path).path.parent


def test_a_readable_by_others_file_is_not_trusted(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600))
    os.chmod(cache(tmp_path).path, 0o644)
    assert cache(tmp_path).load() is None


def test_a_corrupt_file_is_a_miss(tmp_path):
    entry = cache(tmp_path)
    entry.store(CachedToken("tok", NOW + 3600))
    entry.path.write_text("{not json")
    assert entry.load() is None


def test_drop(tmp_path):
    entry = cache(tmp_path)
    entry.store(CachedToken("tok", NOW + 3600))
    entry.drop()
    assert not entry.path.exists() and entry.load() is None
    entry.drop()  # dropping twice is fine


def test_a_token_made_with_another_password_is_not_reused(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600))
    assert cache(tmp_path, password="pw-2").load() is None
    assert cache(tmp_path, password="").load() is None
    assert cache(tmp_path).load().token == "tok"
    # the new password's token replaces the old one's in the same file
    cache(tmp_path, password="pw-2").store(CachedToken("tok-2", NOW + 3600))
    assert cache(tmp_path).load() is None
    assert [p.name for p in cache(tmp_path).path.parent.iterdir()] == [cache(tmp_path).path.name]


def test_the_file_holds_a_salted_digest_never_the_password(tmp_path):
    entry = cache(tmp_path, password="a-distinctive-secret")
    entry.store(CachedToken("tok", NOW + 3600))
    text = entry.path.read_text()
    assert "a-distinctive-secret" not in text
    first = json.loads(text)["credential"]
    entry.store(CachedToken("tok", NOW + 3600))
    second = json.loads(entry.path.read_text())["credential"]
    assert first["salt"] != second["salt"] and first["digest"] != second["digest"]


def test_a_file_without_or_with_a_damaged_credential_is_a_miss(tmp_path):
    entry = cache(tmp_path)
    entry.store(CachedToken("tok", NOW + 3600))
    data = json.loads(entry.path.read_text())
    for credential in (
        None,
        {},
        {"salt": "zz", "digest": "00"},
        {**data["credential"], "digest": "00" * 32},
    ):
        entry.path.write_text(json.dumps({**data, "credential": credential}))
        assert entry.load() is None
