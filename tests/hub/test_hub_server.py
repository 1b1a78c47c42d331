"""Self-tests of the Hub API test double (``tests/hub_server.py``) driven by the real huggingface_hub client."""

import random
import socket
from pathlib import Path

import httpx2
import pytest
from helpers.hub_server import UPLOAD_FOLDER_COMMIT_ATTEMPTS, HubTestServer, git_blob_oid, online
from huggingface_hub import HfApi, hf_hub_download, snapshot_download, upload_file
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

TOKEN = "hf_test_token"
REPO = "test-user/tiny-model"


@pytest.fixture
def hub():
    with HubTestServer(token=TOKEN) as server, online(server):
        yield server
    assert server.errors == [], "the test double itself raised:\n" + "\n".join(server.errors)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A small JSON config, a 5 MB random ``model.safetensors`` and a file in a subfolder."""
    folder = tmp_path / "model"
    (folder / "extra").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "tiny", "hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(random.Random(0).randbytes(5 * 1024 * 1024))
    (folder / "extra" / "notes.txt").write_text("hello")
    return folder


def read_folder(folder) -> dict:
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_upload_folder_round_trips_bit_exactly(hub, model_folder, tmp_path):
    api = HfApi(token=TOKEN)
    api.create_repo(REPO, exist_ok=True)
    info = api.upload_folder(repo_id=REPO, folder_path=model_folder)

    assert info.oid == hub.head(REPO) == api.model_info(REPO).sha
    assert sorted(api.list_repo_files(REPO)) == sorted(read_folder(model_folder))
    downloaded = snapshot_download(REPO, cache_dir=tmp_path / "cache")
    assert read_folder(downloaded) == read_folder(model_folder)
    assert hub.files(REPO) == read_folder(model_folder)


def test_dataset_repo_with_explicit_endpoint(hub, model_folder, tmp_path):
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    api.create_repo("test-user/tiny-data", repo_type="dataset", private=True)
    api.upload_folder(repo_id="test-user/tiny-data", repo_type="dataset", folder_path=model_folder)

    assert api.dataset_info("test-user/tiny-data").sha == hub.head("test-user/tiny-data", "dataset")
    assert hub.get_repo("test-user/tiny-data", "model") is None
    path = hf_hub_download("test-user/tiny-data", "model.safetensors", repo_type="dataset",
                           cache_dir=tmp_path / "cache", endpoint=hub.endpoint)
    assert Path(path).read_bytes() == (model_folder / "model.safetensors").read_bytes()
    folder = snapshot_download("test-user/tiny-data", repo_type="dataset", cache_dir=tmp_path / "cache2",
                               endpoint=hub.endpoint)
    assert read_folder(folder) == read_folder(model_folder)


def test_module_level_upload_file_and_revisions(hub, tmp_path):
    HfApi(token=TOKEN).create_repo(REPO)
    first = upload_file(path_or_fileobj=b"v1", path_in_repo="weights.bin", repo_id=REPO)
    upload_file(path_or_fileobj=b"version 2", path_in_repo="weights.bin", repo_id=REPO)

    latest = hf_hub_download(REPO, "weights.bin", cache_dir=tmp_path / "cache")
    old = hf_hub_download(REPO, "weights.bin", revision=first.oid, cache_dir=tmp_path / "cache")
    assert (Path(latest).read_bytes(), Path(old).read_bytes()) == (b"version 2", b"v1")
    assert [c.title for c in HfApi().list_repo_commits(REPO)][-1] == "initial commit"


def test_wrong_or_missing_token_is_unauthorized(hub, model_folder):
    HfApi(token=TOKEN).create_repo(REPO)
    head = hub.head(REPO)

    with pytest.raises(HfHubHTTPError) as wrong:
        HfApi(token="hf_wrong").upload_folder(repo_id=REPO, folder_path=model_folder)
    assert wrong.value.response.status_code == 401
    assert not isinstance(wrong.value, RepositoryNotFoundError)
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(token=False).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=REPO)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as create:
        HfApi(token="hf_wrong").create_repo("test-user/other")
    assert create.value.response.status_code == 401
    assert hub.head(REPO) == head and hub.get_repo("test-user/other") is None


def test_missing_repo_raises_repository_not_found(hub, model_folder, tmp_path):
    api = HfApi(token=TOKEN)
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info("test-user/missing")
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("test-user/missing", cache_dir=tmp_path / "cache")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-user/missing", "config.json", cache_dir=tmp_path / "cache")
    with pytest.raises(RepositoryNotFoundError):
        api.upload_folder(repo_id="test-user/missing", folder_path=model_folder)


def test_private_repo_is_hidden_without_token(hub, tmp_path):
    hub.create_repo(REPO, private=True)
    hub.commit_files(REPO, {"config.json": b"{}"})
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).model_info(REPO)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(REPO, "config.json", cache_dir=tmp_path / "cache", token=False)
    assert HfApi(token=TOKEN).model_info(REPO).private is True


@pytest.mark.parametrize("mode, error", [("disconnect", httpx2.RemoteProtocolError), ("error", HfHubHTTPError)])
def test_interrupted_commit_raises_and_leaves_repo_unchanged(hub, mode, error):
    api = HfApi(token=TOKEN)
    api.create_repo(REPO)
    api.upload_file(path_or_fileobj=b"v1", path_in_repo="weights.bin", repo_id=REPO)
    head, history = hub.head(REPO), len(hub.commits(REPO))

    hub.commit_failure, hub.fail_next_commit = mode, True
    with pytest.raises(error):
        api.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.bin", repo_id=REPO)
    assert (hub.head(REPO), len(hub.commits(REPO)), hub.files(REPO)) == (head, history, {"weights.bin": b"v1"})
    assert hub.failed_commit_requests == 1 and not hub.fail_next_commit

    api.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.bin", repo_id=REPO)  # the retry goes through
    assert hub.files(REPO) == {"weights.bin": b"v2"}


def test_interrupted_upload_folder_fails_after_its_retries(hub, model_folder, tmp_path):
    api = HfApi(token=TOKEN)
    api.create_repo(REPO)
    head = hub.head(REPO)

    with hub.failing_commits(), pytest.raises(httpx2.RemoteProtocolError):
        api.upload_folder(repo_id=REPO, folder_path=model_folder)
    assert hub.failed_commit_requests == UPLOAD_FOLDER_COMMIT_ATTEMPTS
    assert hub.head(REPO) == head and hub.files(REPO) == {}

    api.upload_folder(repo_id=REPO, folder_path=model_folder)  # re-running the upload completes it
    assert read_folder(snapshot_download(REPO, cache_dir=tmp_path / "cache")) == read_folder(model_folder)


def test_transformers_push_to_hub_round_trip(hub, tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32))
    model.push_to_hub("tiny-bert")  # no namespace, no token: test-user/ and HF_TOKEN from online()
    assert {"config.json", "model.safetensors"} <= set(hub.files("test-user/tiny-bert"))
    reloaded = BertModel.from_pretrained("test-user/tiny-bert", cache_dir=tmp_path / "cache")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name


def test_resolve_answers_hub_headers_and_byte_ranges(hub):
    commit = hub.commit_files(REPO, {"dir/data.bin": b"0123456789"})
    url = f"{hub.endpoint}/{REPO}/resolve/main/dir/data.bin"
    head = httpx2.head(url)
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == commit.oid
    assert head.headers["ETag"] == f'"{git_blob_oid(b"0123456789")}"' and head.headers["Content-Length"] == "10"
    part = httpx2.get(url, headers={"Range": "bytes=2-4"})
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    missing = httpx2.head(f"{hub.endpoint}/{REPO}/resolve/main/nope.txt")
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")


def test_online_is_scoped_and_blocks_other_hosts():
    from huggingface_hub import constants

    before = (constants.HF_HUB_OFFLINE, constants.ENDPOINT, constants.HF_HUB_CACHE)
    with HubTestServer() as server:
        with online(server):
            assert constants.HF_HUB_OFFLINE is False and constants.ENDPOINT == server.endpoint
            assert constants.HF_HUB_CACHE != before[2]  # a temporary default cache
            with pytest.raises(socket.gaierror):
                socket.getaddrinfo("huggingface.co", 443)
            assert server.blocked_hosts == ["huggingface.co"]
        assert (constants.HF_HUB_OFFLINE, constants.ENDPOINT, constants.HF_HUB_CACHE) == before
