"""Shared values of the serving tests."""

FEATURES = {
    "island": "categorical", "bill_length_mm": "numeric", "bill_depth_mm": "numeric",
    "flipper_length_mm": "numeric", "body_mass_g": "numeric", "sex": "categorical",
}
ROW = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female"}
