"""Feast's objects of this domain: the customer entity, the windowed view's FeatureView and
the FeatureService the task trains and serves on. `feast apply` reads this file."""

import orders  # this folder's declarations; `feast apply` puts the folder on sys.path
from feast import Entity, FeatureService
from feast.value_type import ValueType

from larder import feature_view

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A customer, by their id.",
)
customer_orders = feature_view(orders.CUSTOMER_ORDERS, [customer], __file__)

orders_again_v1 = FeatureService(
    name="orders_again_v1",
    features=[customer_orders],
    description="Features of the orders-again model.",
)
