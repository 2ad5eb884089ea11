"""Test-only network stand-in for the corpus builds (this machine has no internet).

Put on PYTHONPATH by tests/corpus/test_corpus.py only. `requests.get` of the Titanic CSV that
aml-pipelines-getting-started downloads at build time is answered with a tiny copy; any other
request goes through unchanged (and fails offline, as it would for a user without network).
"""

try:
    import requests as _requests
except ImportError:  # pragma: no cover
    _requests = None

_TITANIC_URL = "https://dprepdata.blob.core.windows.net/demo/Titanic.csv"
_TITANIC = (
    b"PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    b'1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'
    b'2,1,1,"Cumings, Mrs. John Bradley",female,38,1,0,PC 17599,71.2833,C85,C\n'
)

if _requests is not None:
    _real_get = _requests.get

    def _get(url, *args, **kwargs):
        if url == _TITANIC_URL:
            response = _requests.Response()
            response.status_code = 200
            response._content = _TITANIC
            response.url = url
            return response
        return _real_get(url, *args, **kwargs)

    _requests.get = _get


# urllib.request.urlretrieve of the pretrained MNIST model (the parallel-run mnist notebook
# downloads and unpacks it before registering it): a tiny tar.gz holding one placeholder file.
_MNIST_MODEL_URL = "https://pipelinedata.blob.core.windows.net/mnist-model/mnist-tf.tar.gz"

import urllib.request as _urllib_request  # noqa: E402

_real_urlretrieve = _urllib_request.urlretrieve


def _urlretrieve(url, filename=None, *args, **kwargs):
    if url == _MNIST_MODEL_URL and filename is not None:
        import io
        import tarfile

        body = b"placeholder model for the corpus build\n"
        with tarfile.open(filename, "w:gz") as tar:
            info = tarfile.TarInfo("model/saved_model.txt")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        return filename, None
    return _real_urlretrieve(url, filename, *args, **kwargs)


_urllib_request.urlretrieve = _urlretrieve
