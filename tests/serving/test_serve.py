"""``hf-genrec serve`` over a real socket: uvicorn in a background thread on a free port, a real HTTP client.

Checks /health, that a recommendation equals ``model.generate`` on the same history, that concurrent requests are
answered by fewer ``generate`` calls than requests (each still gets its own right rows), and the 4xx answers.
"""

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from helpers.tiny import save_tiny_tiger_folder  # noqa: E402

from hf_genrec.commands.serve import SERVE_SUMMARY_FILE, build_server  # noqa: E402

WAIT_MS = 150.0  # long enough that requests fired together land in one batch


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(url, handle)`` of a running server of the tiny TIGER folder (batches of up to 16, 150 ms wait)."""
    root = tmp_path_factory.mktemp("serve")
    folder = save_tiny_tiger_folder(root)
    handle = build_server(folder, port=0, out=root / "out", max_batch_size=16, max_wait_ms=WAIT_MS, max_top_k=30,
                          log_level="warning")
    thread = threading.Thread(target=handle.server.run, kwargs={"sockets": handle.sockets}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not handle.server.started:
        assert thread.is_alive() and time.time() < deadline, "the server did not start"
        time.sleep(0.02)
    yield handle.url, handle
    handle.server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()
    final = json.loads(handle.summary_path.read_text())  # rewritten when the server stopped
    assert final["finished"] and final["stats"]["items"] == final["stats"]["histories"]


def expected(handle, history, top_k):
    """What ``model.generate`` itself ranks for one history (item indices), with the server's beam width."""
    recommender = handle.app.state.recommender
    model, tokenizer = recommender.model, recommender.pipeline.tokenizer
    batch = tokenizer([history], mode=model.config.input_mode, return_tensors="pt")
    output = model.generate(**batch, num_beams=max(model.default_num_beams(), top_k), num_return_sequences=top_k)
    return output.items[0].tolist(), output.sids[0].tolist(), output.scores[0].tolist()


def check_answer(handle, answer, history, top_k):
    items, sids, scores = expected(handle, history, top_k)
    rows = answer["recommendations"]
    assert answer["history"] == history and answer["top_k"] == top_k
    assert [r["item_id"] for r in rows] == items
    assert [r["sid"] for r in rows] == sids
    assert [r["score"] for r in rows] == pytest.approx(scores, abs=1e-4)
    assert [r["rank"] for r in rows] == list(range(1, len(items) + 1))
    assert all(r["item"] == f"I{r['item_id']}" and r["title"] == f"Title {r['item_id']}" for r in rows)


def test_health_and_summary(served):
    url, handle = served
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["ready"] is True
    assert health["model_type"] == "tiger" and health["num_items"] == 39 and health["has_titles"]
    assert health["batching"] is True and health["max_batch_size"] == 16
    summary = json.loads(handle.summary_path.read_text())
    assert handle.summary_path.name == SERVE_SUMMARY_FILE and summary["command"] == "serve"
    assert summary["url"] == url and summary["port"] > 0 and summary["started"]
    assert summary["settings"]["max_wait_ms"] == WAIT_MS and summary["model_info"]["num_items"] == 39


def test_recommendation_equals_generate(served):
    url, handle = served
    response = httpx.post(f"{url}/recommend", json={"history": ["I3", "Title 4", 5], "top_k": 5})
    assert response.status_code == 200, response.text
    check_answer(handle, response.json(), [3, 4, 5], 5)
    default = httpx.post(f"{url}/recommend", json={"history": [7]}).json()  # top_k defaults to 10
    check_answer(handle, default, [7], 10)


def test_concurrent_requests_share_generate_calls(served):
    url, handle = served
    histories = [[i, (i * 7) % 39, (i * 11) % 39][: 1 + i % 3] for i in range(10)]
    top_ks = [5 if i % 2 else 10 for i in range(10)]  # the same beam width (the model's 20): one batch can hold both

    async def fire():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            before = (await client.get("/stats")).json()
            responses = await asyncio.gather(*(client.post("/recommend", json={"history": h, "top_k": k})
                                               for h, k in zip(histories, top_ks)))
            after = (await client.get("/stats")).json()
            return before, responses, after

    before, responses, after = asyncio.run(fire())
    for response, history, top_k in zip(responses, histories, top_ks):
        assert response.status_code == 200, response.text
        check_answer(handle, response.json(), history, top_k)
    calls = after["generate_calls"] - before["generate_calls"]
    assert after["items"] - before["items"] == 10 and after["requests"] - before["requests"] == 10
    assert 1 <= calls < 10, after  # batched: fewer generate calls than requests
    assert after["largest_batch"] > 1 and any(int(size) > 1 for size in after["generate_rows"])


def test_batch_form(served):
    url, handle = served
    response = httpx.post(f"{url}/recommend", json={"histories": [[1, 2], ["I30"], ["Title 9", 9]], "top_k": 3})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    for answer, history in zip(results, [[1, 2], [30], [9, 9]]):
        check_answer(handle, answer, history, 3)


@pytest.mark.parametrize("body, status, words", [
    ({"history": ["I3", "no-such-item"]}, 400, ["'no-such-item'"]),
    ({"history": [1, 999]}, 400, ["999", "0..38"]),
    ({"histories": [[1], ["ghost"]]}, 400, ["histories[1]", "'ghost'"]),
    ({"history": []}, 422, ["history"]),
    ({"histories": [[1], []]}, 422, ["histories.1"]),
    ({"history": [1.5]}, 422, ["history.0", "item index (int) or an item id"]),
    ({"history": [True]}, 422, ["history.0"]),
    ({"history": "I3"}, 422, ["history"]),
    ({"history": [1], "top_k": 0}, 422, ["top_k"]),
    ({"history": [1], "top_k": 31}, 422, ["top_k", "at most 30"]),
    ({"history": [1], "top_k": "5"}, 422, ["top_k"]),
    ({"top_k": 5}, 422, ["either 'history'"]),
    ({"history": [1], "histories": [[1]]}, 422, ["either 'history'"]),
    ({"history": [1], "user": "u1"}, 422, ["user"]),
    ([1, 2], 422, []),
])
def test_client_errors(served, body, status, words):
    url, _ = served
    response = httpx.post(f"{url}/recommend", json=body)
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert all(word in message for word in words), message


def test_malformed_json_and_unknown_route(served):
    url, _ = served
    response = httpx.post(f"{url}/recommend", content=b'{"history": [1,', headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]
    response = httpx.get(f"{url}/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "Not Found"
    stats = httpx.get(f"{url}/stats").json()
    assert stats["client_errors"] >= 2


def test_port_in_use_is_a_clear_error(served):
    from hf_genrec.commands.serve import _listen

    _, handle = served
    with pytest.raises(ValueError, match="cannot listen on 127.0.0.1:.*--port"):
        _listen("127.0.0.1", handle.summary["port"])


def test_missing_fastapi_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from hf_genrec.cli import main
    from hf_genrec.serving import ServingDependencyError, require_serving_stack

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(ServingDependencyError, match=r"pip install 'hf_genrec\[serve\]'"):
        require_serving_stack()
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "needs fastapi: pip install 'hf_genrec[serve]'" in capsys.readouterr().err


def test_cli_help_and_import_need_no_fastapi():
    code = ("import sys, hf_genrec, hf_genrec.serving; from hf_genrec.cli import build_parser; "
            "args = build_parser().parse_args(['serve', '--model', 'm', '--no-batching', '--port', '0']); "
            "assert args.no_batching and args.port == 0 and args.out == 'runs/serve'; "
            "loaded = [m for m in ('fastapi', 'uvicorn', 'starlette', 'torch') if m in sys.modules]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
