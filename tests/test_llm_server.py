"""The scripted server itself, through the real `openai` client (and raw httpx where a test needs
the status line or the bytes): round trips, step scripting, recording, every fault, fault rates,
the in-flight count, stop sequences, reset and a prompt stop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.llm_server import BAD_JSON, GARBAGE, RecordedRequest, ScriptedLLMServer


@pytest.fixture(scope="module")
def running() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture
def srv(running: ScriptedLLMServer) -> ScriptedLLMServer:
    running.reset()
    return running


def client(server: ScriptedLLMServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=timeout
    )


def chat(
    server: ScriptedLLMServer, content: str = "hi", step: str | None = None, **body: object
) -> str:
    """One chat call; `body` adds fields to the request, e.g. stop=["END"]."""
    headers = {"X-Augmentoolkit-Step": step} if step else None
    with client(server) as api:
        reply = api.chat.completions.create(
            model="small-model", messages=user(content), extra_headers=headers, extra_body=body
        )
    return reply.choices[0].message.content or ""


def user(content: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": content}]


def post(server: ScriptedLLMServer, step: str | None = None) -> httpx.Response:
    headers = {"X-Augmentoolkit-Step": step} if step else {}
    body = {"model": "m", "prompt": "hi"}
    return httpx.post(server.base_url + "/completions", json=body, headers=headers, timeout=5)


# -- round trips ------------------------------------------------------------------------------


def test_chat_round_trip_with_usage(srv: ScriptedLLMServer) -> None:
    srv.set_responder(lambda request: "hello there, friend")
    with client(srv) as api:
        reply = api.chat.completions.create(
            model="small-model",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "say hello"},
            ],
        )
    assert reply.choices[0].message.content == "hello there, friend"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "small-model"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 3)
    assert reply.usage.total_tokens == 7


def test_completion_round_trip_with_usage(srv: ScriptedLLMServer) -> None:
    srv.set_responder(lambda request: "an answer")
    with client(srv) as api:
        reply = api.completions.create(model="large-model", prompt="### Instruction:\nAsk\n")
    assert reply.choices[0].text == "an answer"
    assert reply.object == "text_completion"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 2)
    assert [r.path for r in srv.requests] == ["/v1/completions"]


def test_models_lists_the_default_and_every_model_seen(srv: ScriptedLLMServer) -> None:
    chat(srv)
    with client(srv) as api:
        names = [model.id for model in api.models.list()]
    assert names == ["scripted-model", "small-model"]


def test_unknown_route_is_a_404_and_not_recorded(srv: ScriptedLLMServer) -> None:
    response = httpx.post(srv.base_url + "/embeddings", json={"input": "x"}, timeout=5)
    assert response.status_code == 404
    assert "/v1/chat/completions" in response.json()["error"]["message"]
    assert srv.count() == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_a_400(srv: ScriptedLLMServer, raw: bytes) -> None:
    response = httpx.post(srv.base_url + "/chat/completions", content=raw, timeout=5)
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


# -- scripting and recording ------------------------------------------------------------------


def test_script_answers_its_step_in_order_and_the_responder_the_rest(
    srv: ScriptedLLMServer,
) -> None:
    srv.script("judge", ["first verdict", "second verdict"])
    srv.set_responder(lambda request: f"responder saw {request.step}")
    replies = [chat(srv, step="judge"), chat(srv, step="other"), chat(srv, step="judge")]
    replies += [chat(srv, step="judge"), chat(srv)]
    assert replies == [
        "first verdict",
        "responder saw other",
        "second verdict",
        "responder saw judge",
        "responder saw None",
    ]
    assert (srv.count(), srv.count("judge"), srv.count("other")) == (5, 3, 1)


def test_requests_are_recorded_with_body_headers_and_step(srv: ScriptedLLMServer) -> None:
    chat(srv, "what is a bee?", step="questions", temperature=0.3, max_tokens=50)
    [request] = srv.requests
    assert isinstance(request, RecordedRequest)
    assert request.path == "/v1/chat/completions"
    assert request.step == "questions"
    assert request.body["messages"] == [{"role": "user", "content": "what is a bee?"}]
    assert (request.body["temperature"], request.body["max_tokens"]) == (0.3, 50)
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["x-augmentoolkit-step"] == "questions"


def test_stop_sequences_cut_the_reply(srv: ScriptedLLMServer) -> None:
    srv.set_responder(lambda request: "alpha STOP beta END gamma")
    assert chat(srv, stop=["END", "STOP"]) == "alpha "
    assert chat(srv, stop="END") == "alpha STOP beta "
    assert chat(srv, stop=["absent"]) == "alpha STOP beta END gamma"
    with client(srv) as api:
        reply = api.completions.create(model="m", prompt="p", stop=["beta"])
    assert reply.choices[0].text == "alpha STOP "


def test_a_failing_responder_is_a_500_that_says_so(srv: ScriptedLLMServer) -> None:
    def broken(request: RecordedRequest) -> str:
        raise KeyError("missing-step")

    srv.set_responder(broken)
    with pytest.raises(openai.InternalServerError, match="missing-step") as raised:
        chat(srv)
    assert raised.value.response.headers["x-should-retry"] == "false"


def test_reset_forgets_everything(srv: ScriptedLLMServer) -> None:
    srv.script("judge", ["queued"])
    srv.set_responder(lambda request: "custom")
    srv.inject("500", count=5)
    srv.set_fault_rates({"429": 1.0})
    srv.set_latency(2.0)
    assert post(srv).status_code == 500
    srv.reset()
    assert (srv.count(), srv.in_flight_max) == (0, 0)
    started = time.monotonic()
    assert chat(srv, step="judge") == "ok"
    assert time.monotonic() - started < 1.0


def test_reset_abandons_a_sleeping_request(srv: ScriptedLLMServer) -> None:
    srv.inject("slow", delay=30.0)
    failures: list[BaseException] = []
    thread = threading.Thread(target=call_expecting_hang_up, args=(srv, failures))
    thread.start()
    while srv.in_flight_max < 1:
        time.sleep(0.01)
    srv.reset()
    thread.join(timeout=2)
    assert not thread.is_alive() and len(failures) == 1
    assert srv.count() == 0


def call_expecting_hang_up(server: ScriptedLLMServer, failures: list[BaseException]) -> None:
    try:
        chat(server)
    except openai.APIConnectionError as error:
        failures.append(error)


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "status"), [("429", 429), ("500", 500), ("503", 503)])
def test_status_faults_then_normal_replies(srv: ScriptedLLMServer, fault: str, status: int) -> None:
    srv.inject(fault, count=2)
    responses = [post(srv) for _ in range(3)]
    assert [r.status_code for r in responses] == [status, status, 200]
    assert "scripted fault" in responses[0].json()["error"]["message"]
    assert "retry-after" not in responses[0].headers
    assert srv.count() == 3


def test_429_carries_retry_after(srv: ScriptedLLMServer) -> None:
    srv.inject("429", retry_after=0.25)
    response = post(srv)
    assert (response.status_code, response.headers["retry-after"]) == (429, "0.25")
    assert response.json()["error"]["type"] == "rate_limit_exceeded"


def test_status_faults_reach_the_openai_client(srv: ScriptedLLMServer) -> None:
    srv.inject("429")
    srv.inject("500")
    with pytest.raises(openai.RateLimitError):
        chat(srv)
    with pytest.raises(openai.InternalServerError):
        chat(srv)
    assert chat(srv) == "ok"


def test_a_fault_for_one_step_leaves_other_steps_alone(srv: ScriptedLLMServer) -> None:
    srv.inject("500", step="judge")
    assert post(srv, step="other").status_code == 200
    assert post(srv).status_code == 200
    assert post(srv, step="judge").status_code == 500
    assert post(srv, step="judge").status_code == 200


def test_faults_do_not_use_up_scripted_replies(srv: ScriptedLLMServer) -> None:
    srv.script("judge", ["the real reply"])
    srv.inject("malformed")
    assert chat(srv, step="judge") == GARBAGE
    assert chat(srv, step="judge") == "the real reply"


def test_drop_is_a_connection_error(srv: ScriptedLLMServer) -> None:
    srv.inject("drop")
    with pytest.raises(openai.APIConnectionError) as raised:
        chat(srv)
    assert not isinstance(raised.value, openai.APITimeoutError)
    assert chat(srv) == "ok"
    assert srv.count() == 2


def test_slow_exceeds_a_client_timeout(srv: ScriptedLLMServer) -> None:
    srv.inject("slow", delay=3.0)
    started = time.monotonic()
    with client(srv, timeout=0.2) as api, pytest.raises(openai.APITimeoutError):
        api.chat.completions.create(model="m", messages=user("x"))
    assert time.monotonic() - started < 1.0
    assert chat(srv) == "ok"  # the server still answers while the slow one sleeps


def test_a_slow_request_whose_client_gave_up_uses_up_nothing(srv: ScriptedLLMServer) -> None:
    srv.script("judge", ["the real reply"])
    srv.inject("slow", delay=0.3)
    headers = {"X-Augmentoolkit-Step": "judge"}
    with client(srv, timeout=0.1) as api, pytest.raises(openai.APITimeoutError):
        api.chat.completions.create(model="m", messages=user("x"), extra_headers=headers)
    time.sleep(0.4)  # long enough for the slow request to have woken up
    assert chat(srv, step="judge") == "the real reply"


def test_slow_answers_normally_after_the_delay(srv: ScriptedLLMServer) -> None:
    srv.inject("slow", delay=0.2)
    started = time.monotonic()
    assert chat(srv) == "ok"
    assert time.monotonic() - started >= 0.2


def test_malformed_replaces_the_text(srv: ScriptedLLMServer) -> None:
    srv.set_responder(lambda request: "Verdict: suitable")
    srv.inject("malformed")
    assert chat(srv) == GARBAGE
    assert chat(srv) == "Verdict: suitable"


def test_badjson_is_a_200_that_is_not_json(srv: ScriptedLLMServer) -> None:
    srv.inject("badjson")
    response = post(srv)
    assert (response.status_code, response.content) == (200, BAD_JSON)
    with pytest.raises(ValueError):
        response.json()
    srv.inject("badjson")
    with pytest.raises(ValueError):  # openai lets json.JSONDecodeError through unwrapped
        chat(srv)


def test_fault_rates_give_the_configured_shares_deterministically(
    srv: ScriptedLLMServer,
) -> None:
    def statuses() -> list[int]:
        srv.reset()
        srv.set_fault_rates({"429": 0.2, "500": 0.1, "malformed": 0.1}, seed=3)
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        with httpx.Client(base_url=srv.base_url, timeout=5) as http:
            replies = [http.post("/chat/completions", json=body) for _ in range(200)]
        texts = [r.json()["choices"][0]["message"]["content"] for r in replies if r.is_success]
        return [r.status_code for r in replies] + [999] * texts.count(GARBAGE)

    first = statuses()
    shares = Counter(first)
    assert 25 <= shares[429] <= 55 and 10 <= shares[500] <= 30 and 10 <= shares[999] <= 30
    assert statuses() == first


def test_rejects_unknown_faults_and_impossible_rates(srv: ScriptedLLMServer) -> None:
    with pytest.raises(ValueError, match="Unknown fault 'timeout'"):
        srv.inject("timeout")
    with pytest.raises(ValueError, match="more than 1"):
        srv.set_fault_rates({"429": 0.7, "500": 0.7})
    with pytest.raises(ValueError, match="must be in"):
        srv.set_fault_rates({"500": -0.1})


# -- concurrency and lifecycle ----------------------------------------------------------------


def test_in_flight_max_counts_concurrent_threads(srv: ScriptedLLMServer) -> None:
    srv.set_latency(0.3)
    threads = [threading.Thread(target=chat, args=(srv,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (srv.count(), srv.in_flight_max) == (5, 5)


def test_in_flight_max_counts_concurrent_asyncio_requests(srv: ScriptedLLMServer) -> None:
    srv.set_latency(0.3)

    async def many(n: int) -> list[str]:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as api:
            calls = [api.chat.completions.create(model="m", messages=user("x")) for _ in range(n)]
            replies = await asyncio.gather(*calls)
        return [r.choices[0].message.content or "" for r in replies]

    assert asyncio.run(many(7)) == ["ok"] * 7
    assert srv.in_flight_max == 7


def test_sequential_requests_never_overlap(srv: ScriptedLLMServer) -> None:
    for _ in range(3):
        chat(srv)
    assert srv.in_flight_max == 1


def test_stop_is_prompt_even_with_a_slow_request_sleeping() -> None:
    server = ScriptedLLMServer(responder=lambda request: "from the constructor")
    server.start()
    assert chat(server) == "from the constructor"
    server.inject("slow", delay=30.0)
    failures: list[BaseException] = []
    thread = threading.Thread(target=call_expecting_hang_up, args=(server, failures))
    thread.start()
    while server.in_flight_max < 1:
        time.sleep(0.01)
    started = time.monotonic()
    base_url = server.base_url
    server.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 1.0
    assert len(failures) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/models", timeout=2)
    with pytest.raises(RuntimeError, match="start"):
        _ = server.base_url
    server.stop()  # a second stop is harmless
