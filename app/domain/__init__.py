"""The domain: a PNR, its passengers and their statuses, as plain values that know nothing of where
they came from or where they go. Every layer above imports it; it imports none of them."""
