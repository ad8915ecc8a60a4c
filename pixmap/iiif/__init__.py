"""IIIF in and out: read institutions' Presentation API manifests and collections (2.x and 3.0), fetch
their images through the Image API, and publish a map's hotspots as a IIIF collection.

    manifests.py   manifests and collections -> one IIIFImage per painted canvas, with its metadata
    text.py        language maps and HTML in IIIF values -> plain, safe text
    fetch.py       HTTP: one session, retries, timeouts, an on-disk cache; Image API size requests
    publish.py     the site's iiif/collection.json: one Manifest per hotspot
"""
