"""What both incident services build the same way on top of the domain
(``incidencias_dominio``): the replica of incidents in their store, the
snapshot and comment events, the incident's answer shapes and views, and how
a refused transition is answered. Each service keeps only what differs: the
side fields it stores beside the snapshot, whether internal notes stay.
"""
