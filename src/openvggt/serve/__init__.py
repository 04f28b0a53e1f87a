"""``openvggt serve``: reconstruction as an HTTP service (FastAPI + uvicorn).

Layer: above ``pipeline`` and ``viz`` (it runs ``reconstruct`` and packages the viewer), below ``cli``.
"""
