"""What routes depend on: the objects the app loaded once at startup."""

from typing import Annotated

from fastapi import Depends, Request

from serving.features import OnlineFeatures
from serving.model import Champion


def get_features(request: Request) -> OnlineFeatures:
    return request.app.state.features


def get_model(request: Request) -> Champion:
    return request.app.state.model


FeaturesDep = Annotated[OnlineFeatures, Depends(get_features)]
ModelDep = Annotated[Champion, Depends(get_model)]
