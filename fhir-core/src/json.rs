//! JSON in and out: parsing with limits, and output in definition order.
