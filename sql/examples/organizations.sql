-- Scanning organizations of the latest day: how many sources each cluster holds and how they were found.
-- Sources that are neither scanning enough to be clustered nor on a reference list are 'unclustered'.
SELECT org, method, count(*) AS sources, count(known_org) AS sources_on_reference_lists
FROM scanner_orgs
WHERE org <> 'unclustered' AND event_date = (SELECT max(event_date) FROM scanner_orgs)  -- the latest day's clusters
GROUP BY ALL
ORDER BY sources DESC;
