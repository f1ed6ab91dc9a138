-- The two databases of deploy/topology.yml: conversations (Rasa) and tickets.
CREATE DATABASE dy_trackers;
CREATE DATABASE dy_tickets;
