"""A Gradio demo of an hf_genrec model: pick the items you liked, get the next ones the model recommends.

    python examples/demo/app.py runs/quickstart/tiger/model     # a model folder or a Hub repo id
    HF_GENREC_DEMO_MODEL=org/name python examples/demo/app.py    # the same, from the environment (Spaces)

It runs the ``recommendation`` pipeline (``hf_genrec.pipelines``). With hf_genrec installed the installed pipeline
and model classes are used and no downloaded code runs. Without it (a Space that only installs ``requirements.txt``),
the model must be one exported with ``hf-genrec push --remote-code``, and running its bundled code must be allowed
explicitly: ``--trust-remote-code`` or ``HF_GENREC_DEMO_TRUST_REMOTE_CODE=1``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gradio as gr
from transformers import pipeline

MODEL_ENV = "HF_GENREC_DEMO_MODEL"
TRUST_ENV = "HF_GENREC_DEMO_TRUST_REMOTE_CODE"
COLUMNS = ["rank", "title", "item", "score", "SID"]


def load_recommender(model: str, trust_remote_code: bool = False):
    """The ``recommendation`` pipeline of a model folder or Hub repo."""
    try:
        from hf_genrec.pipelines import RecommendationPipeline
    except ImportError:  # hf_genrec not installed: the model's bundled pipeline (remote code), if allowed
        return pipeline("recommendation", model=model, trust_remote_code=trust_remote_code)
    return pipeline("recommendation", model=model, pipeline_class=RecommendationPipeline)


def item_choices(items: Dict[str, Any], num_items: int) -> List[Tuple[str, int]]:
    """Dropdown choices ``(label, item index)``: the title and the item id, or the id alone."""
    keys, titles = items.get("item_ids") or [], items.get("titles") or []
    choices = []
    for index in range(num_items):
        key = str(keys[index]) if index < len(keys) else str(index)
        title = titles[index] if index < len(titles) else ""
        choices.append((f"{title} · {key}" if title else key, index))
    return choices


def recommendations_table(recommender, selected: Optional[Sequence[Any]], top_k: int) -> List[List[Any]]:
    """Rows ``rank, title, item, score, SID`` for the history ``selected`` (item indices, oldest first)."""
    if not selected:
        raise gr.Error("Pick at least one item you liked.")
    history = [int(value) for value in selected]
    results = recommender(history, top_k=int(top_k))
    return [[rank, row["title"], row["item"], round(row["score"], 4), " ".join(map(str, row["sid"]))]
            for rank, row in enumerate(results, start=1)]


def build_demo(model: str, trust_remote_code: bool = False, top_k: int = 10) -> gr.Blocks:
    """The demo's ``gr.Blocks`` (not launched); ``demo.recommend(selected, top_k)`` is its recommend function."""
    recommender = load_recommender(model, trust_remote_code)
    choices = item_choices(recommender.items, recommender.model.config.num_items)

    def recommend(selected, k=top_k):
        return recommendations_table(recommender, selected, k)

    with gr.Blocks(title="hf_genrec recommendations") as demo:
        gr.Markdown(f"# Generative recommendation with semantic IDs\n"
                    f"Model: `{model}` ({type(recommender.model).__name__}, {len(choices)} items). Pick the items "
                    f"you liked, oldest first; the model decodes the semantic IDs of the next ones.")
        with gr.Row():
            history = gr.Dropdown(choices=choices, multiselect=True, label="Your history (search by title)",
                                  scale=4)
            how_many = gr.Slider(1, min(50, len(choices)), value=min(top_k, len(choices)), step=1,
                                 label="How many", scale=1)
        button = gr.Button("Recommend", variant="primary")
        table = gr.Dataframe(headers=COLUMNS, label="Recommendations", interactive=False)
        button.click(recommend, inputs=[history, how_many], outputs=table, api_name="recommend")
    demo.recommend = recommend
    return demo


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=os.environ.get(MODEL_ENV),
                        help=f"model folder or Hub repo id (default: ${MODEL_ENV})")
    parser.add_argument("--trust-remote-code", action="store_true",
                        default=os.environ.get(TRUST_ENV, "").lower() in ("1", "true", "yes"),
                        help=f"run the model's bundled code when hf_genrec is not installed (or ${TRUST_ENV}=1)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--share", action="store_true", help="a public gradio.live link")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error(f"give a model folder or Hub repo id, or set {MODEL_ENV}")
    demo = build_demo(args.model, args.trust_remote_code, args.top_k)
    demo.launch(server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
