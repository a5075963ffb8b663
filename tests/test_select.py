"""The sentence selector, its learned ranker, answer types and spans, on the real sample index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa import engine as engine_module
from qa.answer_types import AnswerType, candidate_spans, expected_type
from qa.engine import Engine
from qa.ranker import WEIGHTS_FILE, load_ranker
from qa.retrieve import hybrid_search
from qa.select import FEATURES, ScoredSentence, candidates, ranker, select_sentences
from tests.test_answers import DEV
from tools.squad_eval import abstain_table, normalize_answer, span_scores
from tools.train_ranker import choose_threshold


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many people live in Kyiv?", AnswerType.NUMBER),
        ("In what year did the war begin?", AnswerType.DATE),
        ("When was the bridge attacked?", AnswerType.DATE),
        ("Who leads the Russian space agency?", AnswerType.PERSON),
        ("Where did the missiles land?", AnswerType.PLACE),
        ("Which newspaper reported the visit?", AnswerType.NAME),
        ("Why did the talks fail?", None),
    ],
)
def test_question_answer_types(question: str, expected: AnswerType | None) -> None:
    assert expected_type(question) is expected


def test_number_spans_skip_the_question_own_numbers() -> None:
    sentence = "By June 1 Russia had lost 1,361 tanks and 3,343 armored vehicles."
    spans = candidate_spans(
        sentence, AnswerType.NUMBER, "How many tanks had Russia lost by June 1?"
    )
    found = [sentence[s:e] for s, e in spans]
    assert "1,361" in found and "1" not in found


def test_distance_question_wants_a_distance() -> None:
    sentence = "It flew for 64 seconds and missed the target by 200 metres."
    spans = candidate_spans(sentence, AnswerType.NUMBER, "How far from the target did it land?")
    assert [sentence[s:e] for s, e in spans] == ["200 metres"]


def ranked(engine: Engine, question: str) -> tuple[list[ScoredSentence], dict[str, str]]:
    """The selector's ranking over the whole sample index, and the article texts."""
    snapshot = engine.snapshot
    vector = engine.encode_query(question)
    hits = hybrid_search(snapshot, vector, question)
    texts = {d: row.text for d, row in snapshot.documents(set(snapshot.chunk_doc)).items()}
    return select_sentences(snapshot, question, vector, hits, texts), texts


def test_best_sentence_answers_and_its_span_lies_inside(engine: Engine) -> None:
    scored, texts = ranked(engine, "How many tanks did Russia lose, according to Ukraine?")
    best = scored[0]
    sentence = texts[best.doc_id][best.start : best.end]
    assert "1,361 tanks" in sentence
    assert best.span is not None and best.start <= best.span[0] < best.span[1] <= best.end
    assert texts[best.doc_id][best.span[0] : best.span[1]] == "1,361"
    scores = [s.score for s in scored]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)


def test_every_candidate_has_every_feature(engine: Engine) -> None:
    snapshot = engine.snapshot
    question = "Which cosmonauts posed with flags aboard the space station?"
    vector = engine.encode_query(question)
    hits = hybrid_search(snapshot, vector, question)
    texts = {d: row.text for d, row in snapshot.documents(set(snapshot.chunk_doc)).items()}
    found = candidates(snapshot, question, vector, hits, texts)
    assert found.features.shape == (len(found.rows), len(FEATURES)) > (0, 0)
    assert np.isfinite(found.features).all()
    assert found.features[:, FEATURES.index("coverage_gap")].max() == 0.0
    assert all(
        text == texts[r[2]][r[3] : r[4]] for r, text in zip(found.rows, found.texts, strict=True)
    )


def test_covering_the_question_raises_the_score() -> None:
    model = ranker()
    base = model.mean.copy()
    covered = base.copy()
    for name in ("coverage", "window_coverage", "pairs"):
        covered[FEATURES.index(name)] += model.scale[FEATURES.index(name)]
    assert model.score(covered[None])[0] > model.score(base[None])[0]


def test_weights_match_the_features_and_the_engine_threshold(tmp_path) -> None:  # noqa: ANN001
    payload = json.loads(WEIGHTS_FILE.read_text())
    assert payload["features"] == list(FEATURES)
    assert payload["min_answer_score"] == ranker().min_answer_score
    payload["features"] = payload["features"][::-1]
    other = tmp_path / "weights.json"
    other.write_text(json.dumps(payload))
    with pytest.raises(RuntimeError, match="make train"):
        load_ranker(other, FEATURES)


def test_unrelated_question_scores_below_the_threshold(engine: Engine) -> None:
    scored, _ = ranked(engine, "What is the boiling point of mercury in kelvin?")
    assert scored[0].score < engine_module.MIN_ANSWER_SCORE


def test_threshold_is_where_most_questions_come_out_right() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2])
    right = np.array([True, True, False, True])
    unanswerable = np.array([0.1, 0.3, 0.75])
    assert choose_threshold((scores, right), unanswerable) == 0.8


def test_span_scores_follow_squad_normalisation() -> None:
    from qa.models import Span

    span = Span(text="the Denver Broncos", char_start=0, char_end=18)
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert span_scores(span, ["Denver Broncos"]) == (1.0, 1.0, 1.0)
    assert span_scores(span, ["Broncos"])[1:] == (pytest.approx(2 / 3), 1.0)
    assert span_scores(None, ["Broncos"]) == (0.0, 0.0, 0.0)


def test_abstain_table_counts_both_sides() -> None:
    from qa.evaluate import GoldQuestion
    from qa.models import Answer, AskResponse

    def response(text: str | None, score: float) -> AskResponse:
        answer = (
            None
            if text is None
            else Answer(
                doc_id="d",
                source="d",
                title=None,
                date=None,
                date_source=None,
                text=text,
                char_start=0,
                char_end=len(text),
                score=score,
            )
        )
        return AskResponse(question="q", answer=answer, passages=[], timeline=[])

    gold = GoldQuestion("1", "q", ["Paris"], ["d"], "fact")
    answerable = [(gold, response("It is in Paris.", 0.9)), (gold, response("Lyon.", 0.6))]
    row = abstain_table(answerable, [response("x", 0.5), response("y", 0.95)], [0.7])[0]
    assert row["answer@1"] == 0.5 and row["answered (answerable)"] == 0.5
    assert row["abstained (unanswerable)"] == 0.5
    assert row["precision (pooled, answered)"] == 0.5


def test_features_do_not_depend_on_the_process_string_hashing(sample_index: Path) -> None:
    """Replicas (or two runs) must score a question alike, to the last bit: no float sum may
    follow a set's iteration order, which changes with PYTHONHASHSEED."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from qa.engine import Engine\n"
        "from qa.retrieve import hybrid_search\n"
        "from qa.select import candidates\n"
        "engine = Engine(Path(sys.argv[1]))\n"
        "snapshot = engine.snapshot\n"
        "texts = {d: r.text for d, r in snapshot.documents(set(snapshot.chunk_doc)).items()}\n"
        "for question in sys.argv[2:]:\n"
        "    vector = engine.encode_query(question)\n"
        "    hits = hybrid_search(snapshot, vector, question)\n"
        "    print(candidates(snapshot, question, vector, hits, texts).features.tobytes().hex())\n"
    )
    questions = [item["question"] for item in DEV[:6]]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, str(sample_index), *questions],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
