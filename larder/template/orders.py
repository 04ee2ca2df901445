"""What this domain declares to the platform: its source table and data contract, the
derivation of its examples, its windowed view and its prediction task.

The sample table (`sample/orders.csv`, generated example data) holds orders: who ordered,
when, how much, through which channel. The task: at an order, will the customer order again
within 14 days?
"""

from datetime import UTC, datetime, timedelta

import pandera.polars as pa
import polars as pl
from pandera.typing.polars import Series

from larder import (
    UTC_US,
    GradientBoosting,
    Monthly,
    RateBy,
    Source,
    Task,
    TimeSplit,
    WindowedView,
    count,
    derivation,
    maximum,
    mean,
    repo_file,
)

AGAIN_WITHIN = timedelta(days=14)


class Orders(pa.DataFrameModel):
    order_id: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 40})
    customer_id: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 40})
    ordered_at: Series[pl.Datetime("us", "UTC")]  # type: ignore[valid-type]
    amount_cents: Series[int] = pa.Field(in_range={"min_value": 1, "max_value": 10_000_000})
    channel: Series[str] = pa.Field(isin=["web", "app", "store"])

    class Config:
        strict = True


orders = Source(
    name="orders",
    schema={
        "order_id": pl.String(),
        "customer_id": pl.String(),
        "ordered_at": UTC_US,
        "amount_cents": pl.Int64(),
        "channel": pl.String(),
    },
    key=("order_id",),
    contract=Orders,
    partition=Monthly(time="ordered_at"),
    time="ordered_at",
    sample=repo_file("sample/orders.csv"),
    description="Orders: who ordered, when, how much (in cents) and through which channel.",
)


@derivation(reach=AGAIN_WITHIN)
def order_examples(orders: pl.LazyFrame) -> pl.LazyFrame:
    """Each order, labelled: did the customer order again within 14 days? Known 14 days on."""
    ordered = orders.select("order_id", "customer_id", "ordered_at", "channel").sort("ordered_at")
    following = ordered.select("customer_id", pl.col("ordered_at").alias("_next"))
    labelled = ordered.join_asof(
        following,
        left_on="ordered_at",
        right_on="_next",
        by="customer_id",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by time just above
    )
    again = (pl.col("_next") - pl.col("ordered_at") <= AGAIN_WITHIN).fill_null(False)
    return labelled.select(
        "order_id",
        "customer_id",
        "ordered_at",
        "channel",
        again.alias("orders_again"),
        (pl.col("ordered_at") + AGAIN_WITHIN).alias("label_known_at"),
    )


CUSTOMER_ORDERS = WindowedView(
    name="customer_orders",
    entities=("customer_id",),
    source="orders",
    timestamp="ordered_at",
    windows=("7d", "30d", "90d"),
    aggregations=(
        count("orders"),
        mean("mean_amount_cents", "amount_cents"),
        maximum("max_amount_cents", "amount_cents"),
    ),
    description="The customer's orders in the last 7, 30 and 90 days: how many, mean and largest.",
)

orders_again = Task(
    name="orders_again",
    examples="order_examples",
    key=("order_id",),
    time="ordered_at",
    label="orders_again",
    label_known_at="label_known_at",
    feature_service="orders_again_v1",
    split=TimeSplit(datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC)),
    baseline=RateBy("channel"),
    model=GradientBoosting(),
    answer="order_again_probability",
    description="P(the customer orders again within 14 days of this order)",
    holdout=timedelta(days=60),
)
