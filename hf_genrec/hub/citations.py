"""BibTeX of the papers behind each hf_genrec method, for the ``Citation`` section of a model card.

Titles and authors follow the papers' headers in ``../shared/papers/*.md`` (ComeIR, IntRR, PRISM, DECOR) and their
reference lists (TIGER, NEZHA, IntRR's arXiv number); SASRec is Kang & McAuley, ICDM 2018.
:func:`citations_for` picks the entries of one model configuration: the method's paper, plus NEZHA when the model
decodes with NEZHA's draft head.
"""

from __future__ import annotations

from typing import Any, Dict, List

BIBTEX: Dict[str, str] = {
    "tiger": """@inproceedings{rajput2023tiger,
  title = {Recommender Systems with Generative Retrieval},
  author = {Rajput, Shashank and Mehta, Nikhil and Singh, Anima and Hulikal Keshavan, Raghunandan and Vu, Trung and
            Heldt, Lukasz and Hong, Lichan and Tay, Yi and Tran, Vinh Q. and Samost, Jonah and Kula, Maciej and
            Chi, Ed H. and Sathiamoorthy, Maheswaran},
  booktitle = {Advances in Neural Information Processing Systems},
  volume = {36},
  pages = {10299--10315},
  year = {2023}
}""",
    "intrr": """@article{wang2026intrr,
  title = {IntRR: A Framework for Integrating SID Redistribution and Length Reduction},
  author = {Wang, Zesheng and Xu, Longfei and Deng, Weidong and Yan, Huimin and Liu, Kaikui and Chu, Xiangxiang},
  journal = {arXiv preprint arXiv:2602.20704},
  year = {2026}
}""",
    # the copy in ../shared/papers/comeir.md begins in the middle of the author list: the names before Yejing Wang
    # are missing there, hence "others" (arXiv 2605.11447 has the full list)
    "comeir": """@article{comeir2026,
  title = {Conditional Memory Enhanced Item Representation for Generative Recommendation},
  author = {Wang, Yejing and Zhou, Shengyu and Li, Xinhang and Zhao, Xiangyu and others},
  journal = {arXiv preprint arXiv:2605.11447},
  year = {2026}
}""",
    "prism": """@article{fang2026prism,
  title = {PRISM: Purified Representation and Integrated Semantic Modeling for Generative Sequential Recommendation},
  author = {Fang, Dengzhao and Gao, Jingtong and Li, Yu and Zhao, Xiangyu and Chang, Yi},
  journal = {arXiv preprint arXiv:2601.16556},
  year = {2026}
}""",
    "decor": """@article{liu2025decor,
  title = {Learning Decomposed Contextual Token Representations from Pretrained and Collaborative Signals for
           Generative Recommendation},
  author = {Liu, Yifan and Liu, Yaokun and Li, Zelin and Yue, Zhenrui and Lee, Gyuseok and Yao, Ruichen and
            Zhang, Yang and Wang, Dong},
  journal = {arXiv preprint arXiv:2509.10468},
  year = {2025}
}""",
    "sasrec": """@inproceedings{kang2018sasrec,
  title = {Self-Attentive Sequential Recommendation},
  author = {Kang, Wang-Cheng and McAuley, Julian},
  booktitle = {IEEE International Conference on Data Mining (ICDM)},
  pages = {197--206},
  year = {2018}
}""",
    "nezha": """@inproceedings{wang2026nezha,
  title = {NEZHA: A Zero-Sacrifice and Hyperspeed Decoding Architecture for Generative Recommendations},
  author = {Wang, Y. and Zhou, S. and Lu, J. and Liu, Z. and Liu, L. and Wang, M. and Zhang, W. and Li, F. and
            Su, W. and Wang, P. and others},
  booktitle = {Proceedings of the ACM Web Conference 2026},
  pages = {8073--8082},
  year = {2026},
  note = {arXiv:2511.18793}
}""",
}


def uses_nezha(config: Any) -> bool:
    """Whether a model configuration decodes with NEZHA's draft head (``decoding_architecture`` of TIGER / IntRR,
    ``architecture`` of ComeIR)."""
    return "nezha" in (getattr(config, "decoding_architecture", None), getattr(config, "architecture", None))


def citations_for(config: Any) -> List[str]:
    """BibTeX entries to cite for a model configuration: its method's paper, then NEZHA when it decodes with it."""
    keys = [config.model_type] + (["nezha"] if uses_nezha(config) else [])
    return [BIBTEX[key] for key in keys if key in BIBTEX]
