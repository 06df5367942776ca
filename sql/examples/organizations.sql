-- Scanning organizations: how many sources each cluster holds and how they were found.
-- Sources that are neither scanning enough to be clustered nor on a reference list are 'unclustered'.
SELECT org, method, count(*) AS sources, count(known_org) AS sources_on_reference_lists
FROM scanner_orgs
WHERE org <> 'unclustered'
GROUP BY ALL
ORDER BY sources DESC;
