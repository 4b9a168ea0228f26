"""``nerfacc.estimators``: the transmittance estimators (``occ_grid``, ``prop_net``, ``base``)."""
