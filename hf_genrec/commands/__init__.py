"""One module per stage of the command line; each ``run_*`` function does the work and returns a JSON-able
summary that the CLI prints and writes as ``summary.json``.

* :mod:`.prepare`     raw logs -> prepared ``DatasetDict`` + item table + item embeddings
* :mod:`.build_sids`  item embeddings -> semantic IDs + ``SIDTokenizer`` + SID quality report
* :mod:`.train`       a YAML run config -> a trained, self-contained model folder
* :mod:`.evaluate`    full-ranking metrics of a saved model, reference baselines, recommendations
* :mod:`.push`        model folders and prepared datasets to the Hub
* :mod:`.synthetic`   the embedded default catalog
* :mod:`.reproduce`   a paper table's experiments end to end, next to the published numbers
* :mod:`.quickstart`  the main job on the embedded default
* :mod:`.serve`       a saved model as an HTTP service (:mod:`hf_genrec.serving`; writes ``serve_summary.json``)

This package imports nothing heavy itself, so ``hf-genrec --help`` stays fast.
"""
