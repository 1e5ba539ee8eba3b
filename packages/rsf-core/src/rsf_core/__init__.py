"""The ONDC RSF 2.0 settlement and reconciliation domain on Beanie."""
