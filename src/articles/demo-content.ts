import type { ArticleInput } from './article.js';

/**
 * Original demo stories so a fresh install has something to read. The places, people and
 * institutions in them are invented.
 */
export function demoArticles(): ArticleInput[] {
  return [
    {
      slug: 'river-towns-rebuild-flood-walls-with-salvaged-stone',
      section: 'Climate',
      title: 'River towns rebuild their flood walls with salvaged stone',
      dateline: 'Harlow Ferry',
      byline: 'Ines Marchetti',
      summary:
        'Three towns on the lower Vell are reusing the stone of demolished mills to raise their flood defences, at a third of the cost of new concrete.',
      body: `<p>When the old Carrow mill came down last spring, the council of Harlow Ferry did something unusual with the rubble: it numbered every block and stored it in a field behind the fire station.</p>
<p>Those blocks are now the lower courses of a new flood wall along the Vell, and two neighbouring towns have copied the idea. Engineers say the dense sandstone, laid on a modern concrete core, performs as well as new cladding and costs about a third as much.</p>
<blockquote><p>We were throwing away exactly the material our grandparents chose because it does not crack in the frost.</p></blockquote>
<p>The project is not without critics. Heritage groups argue that the mills should have been kept standing, and some residents worry that a wall built from familiar stone will feel like a memorial to what the town lost. The council says it will publish the full cost comparison in January.</p>`,
      publishedAt: '2026-11-20T08:30:00Z',
      related: ['coastal-marsh-returns-after-sea-wall-is-opened', 'insurers-map-street-level-flood-risk'],
    },
    {
      slug: 'coastal-marsh-returns-after-sea-wall-is-opened',
      section: 'Climate',
      title: 'A coastal marsh returns, ten years after the sea wall was opened',
      dateline: 'Saltmere',
      byline: 'Ines Marchetti',
      summary:
        'A decade after engineers cut three breaches in an old sea wall, the fields behind it have become salt marsh that now absorbs storm surges.',
      body: `<p>Ten years ago the fields behind the Saltmere sea wall grew barley. Today they flood twice a day, and the birds counted there have tripled.</p>
<p>The deliberate breaching of the wall was controversial at the time. Farmers were compensated, but many in the village saw it as a surrender to the sea. The survey published this week suggests the opposite: the new marsh soaks up the energy of storm surges before they reach the houses on higher ground.</p>
<h2>What the numbers show</h2>
<p>During last winter's largest storm, gauges in the village recorded water levels 40 centimetres lower than models predicted for the old wall alone. The marsh has also stored an estimated 9,000 tonnes of carbon in its mud.</p>
<p>The regional authority is now studying two further sites, though it says no decision will be taken without a vote of the affected parishes.</p>`,
      publishedAt: '2026-11-12T07:00:00Z',
      related: ['river-towns-rebuild-flood-walls-with-salvaged-stone'],
    },
    {
      slug: 'insurers-map-street-level-flood-risk',
      section: 'Climate',
      title: 'Insurers start pricing flood risk street by street',
      dateline: 'Brennick',
      byline: 'Tomas Adeyemi',
      summary:
        'New maps let insurers price flood cover for each street rather than each postcode. Some homeowners will pay less; others may not be able to buy cover at all.',
      body: `<p>For years, two houses on opposite sides of the same hill paid the same flood premium because they shared a postcode. That is changing.</p>
<p>Several insurers now use elevation maps accurate to half a metre, combined with drainage records, to price cover for each street. Homes on high ground are seeing their premiums fall. Those in hollows are receiving quotes several times higher, or none at all.</p>
<p>Consumer groups warn that the people least able to move are the most exposed. A government-backed reinsurance scheme covers older homes, but it was designed to end in the next decade and its future is unclear.</p>
<p>"Accurate pricing is not the same as fair pricing," said a spokesperson for a tenants' association in Brennick. "Somebody still has to pay for the street at the bottom of the hill."</p>`,
      publishedAt: '2026-11-03T10:15:00Z',
      related: ['river-towns-rebuild-flood-walls-with-salvaged-stone'],
    },
    {
      slug: 'orchard-growers-try-late-blooming-apples',
      section: 'Climate',
      title: 'Orchard growers bet on apples that bloom later',
      dateline: 'Dunmore Vale',
      byline: 'Priya Okonjo',
      summary:
        'Warmer winters mean earlier blossom and more losses to spring frost. Growers are grafting old late-flowering varieties onto their trees.',
      body: `<p>The blossom on the Dunmore Vale orchards now opens nearly two weeks earlier than it did in the 1980s. The last frosts have not moved at the same pace, and a single cold night in April can destroy a year's crop.</p>
<p>A cooperative of twenty growers is answering with grafts from varieties that flower late, many of them collected from farmhouse gardens and hedgerows. The trees take four years to bear fruit, so the cooperative will not know for some time whether the bet pays off.</p>
<p>"Some of these apples were grown here for two centuries and forgotten in forty years," said one grower. "It turns out they knew something we needed."</p>`,
      publishedAt: '2026-10-27T09:00:00Z',
      related: ['coastal-marsh-returns-after-sea-wall-is-opened'],
    },
    {
      slug: 'small-telescope-network-tracks-near-earth-rock',
      section: 'Science & Space',
      title: 'A network of amateur telescopes pins down a near-Earth rock',
      dateline: 'Kestrel Observatory',
      byline: 'Jonah Lindqvist',
      summary:
        'Forty backyard telescopes on four continents measured the orbit of a small asteroid precisely enough to rule out any impact this century.',
      body: `<p>When a 30-metre asteroid was spotted last month, its first orbit left a small chance of an impact later this century. The professional observatories that usually follow such objects were busy or clouded out.</p>
<p>Forty amateur astronomers coordinated through an open scheduling service filled the gap. Their timed observations, each a few minutes long, were combined into an orbit precise enough to remove the object from every risk list within nine days.</p>
<h2>Timing matters more than size</h2>
<p>The trick, organisers say, is accurate clocks rather than large mirrors: each observer records when the asteroid passes a known star to within a few milliseconds, using inexpensive satellite-time receivers.</p>
<p>The network now plans to publish its scheduling software under an open licence so that schools can join.</p>`,
      publishedAt: '2026-11-19T13:00:00Z',
      related: ['lunar-dust-sample-returns-to-university-lab', 'why-night-skies-are-getting-brighter'],
    },
    {
      slug: 'lunar-dust-sample-returns-to-university-lab',
      section: 'Science & Space',
      title: 'A spoonful of lunar dust comes home to the lab that asked for it',
      dateline: 'Aldmoor',
      byline: 'Jonah Lindqvist',
      summary:
        'A university team that proposed a sampling experiment in 2019 has finally received its share of a lunar sample, and started by weighing it.',
      body: `<p>It arrived in a nitrogen-filled canister the size of a coffee tin. Inside was a little under two grams of grey powder, collected on the Moon and shared out among research groups around the world.</p>
<p>The team at Aldmoor will study how the dust clings to surfaces, a problem that has troubled every crewed landing. Fine lunar grains are sharp, electrically charged and get into seals, visors and lungs.</p>
<p>Their first measurement was the simplest: weighing the sample before opening it further. "Everything after this changes it a little," the project lead said. "So we measure what we can while it is still exactly as it came."</p>`,
      publishedAt: '2026-11-09T11:30:00Z',
      related: ['small-telescope-network-tracks-near-earth-rock'],
    },
    {
      slug: 'why-night-skies-are-getting-brighter',
      section: 'Science & Space',
      title: 'Why the night sky keeps getting brighter, and what towns are doing about it',
      dateline: 'Pellham',
      byline: 'Amara Castell',
      summary:
        'Citizen measurements show the night sky brightening by several percent a year. A handful of towns have cut the glow by changing streetlight colour and angle.',
      body: `<p>Volunteers with handheld sky meters have been recording the darkness over Pellham every clear night since 2014. Their data show the sky brightening by around seven percent a year, faster than satellite measurements suggest.</p>
<p>The difference, researchers say, is colour: satellites are less sensitive to the blue-rich light of modern white LEDs, which scatter more in the atmosphere.</p>
<p>Pellham replaced its streetlights last year with warmer, shielded fittings that point straight down. The sky meters recorded a measurable improvement within weeks, and the council's electricity bill fell by a fifth.</p>
<ul>
<li>Shielded fittings keep light on the ground.</li>
<li>Warmer colours scatter less.</li>
<li>Dimming after midnight saves energy where streets are empty.</li>
</ul>`,
      publishedAt: '2026-10-30T18:45:00Z',
      related: ['small-telescope-network-tracks-near-earth-rock'],
    },
    {
      slug: 'deep-lake-core-records-ten-thousand-winters',
      section: 'Science & Space',
      title: 'A core from a deep lake records ten thousand winters',
      dateline: 'Lake Orrin',
      byline: 'Priya Okonjo',
      summary:
        'Layers of sediment laid down once a year at the bottom of Lake Orrin give a year-by-year record of climate going back ten millennia.',
      body: `<p>Every winter a thin dark layer settles on the bed of Lake Orrin, and every summer a paler one. Counted like tree rings, the layers in a new 14-metre core reach back roughly ten thousand years.</p>
<p>The team that drilled it from a floating platform last winter has now counted and dated the upper half. Pollen, ash from distant eruptions and the thickness of each layer record how wet, cold or stormy each year was.</p>
<p>The researchers caution that reading the core will take years, but say it already shows several abrupt cold spells that lasted only a decade or two, too short to show up in most older records.</p>`,
      publishedAt: '2026-10-21T08:00:00Z',
      related: ['why-night-skies-are-getting-brighter'],
    },
    {
      slug: 'night-buses-return-to-the-eastern-wards',
      section: 'Cities',
      title: 'Night buses return to the eastern wards after a four-year gap',
      dateline: 'Calder City',
      byline: 'Tomas Adeyemi',
      summary:
        'Three night routes cut during the pandemic are back, paid for by a small levy on late-opening venues. Shift workers say the change is overdue.',
      body: `<p>For four years, a nurse finishing a late shift at the Eastgate hospital had two choices: a taxi that cost a fifth of a night's wages, or a ninety-minute walk. From Monday, there is a third: the N7.</p>
<p>Three night bus routes return to the eastern wards this week, funded by a levy on venues that stay open after midnight. The levy was fiercely opposed by some bar owners, who argued that their customers mostly live in the centre.</p>
<p>The transit authority's own survey suggests otherwise: two thirds of people travelling between midnight and five in the morning are going to or from work, not from a night out.</p>`,
      publishedAt: '2026-11-18T06:00:00Z',
      related: ['a-library-that-lends-tools-not-books', 'empty-offices-become-homes-floor-by-floor'],
    },
    {
      slug: 'a-library-that-lends-tools-not-books',
      section: 'Cities',
      title: 'The library that lends drills, ladders and sewing machines',
      dateline: 'Calder City',
      byline: 'Amara Castell',
      summary:
        'A neighbourhood tool library has lent out 11,000 items in its first year. Its volunteers say the hard part is not lending, but repairs.',
      body: `<p>The most borrowed item in the Northbank tool library is not a drill or a pressure washer. It is a carpet cleaner, booked solidly for the next six weeks.</p>
<p>The library opened a year ago in a former bank branch, with donated stock and a membership fee set by each member. It has since lent out more than 11,000 items, from ladders to bread makers.</p>
<p>Its volunteers spend most of their time fixing things. A weekly repair evening has become a social fixture in its own right, and the library now teaches basic repairs to schoolchildren.</p>
<p>"Everybody needs a ladder twice a year," one volunteer said. "Nobody needs to store one."</p>`,
      publishedAt: '2026-11-06T12:00:00Z',
      related: ['night-buses-return-to-the-eastern-wards'],
    },
    {
      slug: 'empty-offices-become-homes-floor-by-floor',
      section: 'Cities',
      title: 'Empty offices become homes, one floor at a time',
      dateline: 'Westwick',
      byline: 'Ines Marchetti',
      summary:
        'A developer is converting a half-empty office tower into flats while the remaining tenants stay, a slower approach that avoids leaving the building dark for years.',
      body: `<p>On the ninth floor of the Westwick Exchange, an insurance firm still answers phones. Three floors up, a family is unpacking in a flat that was a conference room in March.</p>
<p>The tower is being converted floor by floor rather than emptied first. It is slower and more expensive per flat, the developer concedes, but the building never stands vacant and shops on the ground floor keep their customers.</p>
<p>Planners say the approach only works in towers with enough lifts and windows; deep-plan buildings leave too many rooms without daylight. Of the city's forty office blocks with high vacancy, officials estimate about a dozen are suitable.</p>`,
      publishedAt: '2026-10-29T09:30:00Z',
      related: ['night-buses-return-to-the-eastern-wards'],
    },
    {
      slug: 'school-streets-close-to-cars-at-the-bell',
      section: 'Cities',
      title: 'School streets close to cars at the bell, and parents mostly approve',
      dateline: 'Rookley',
      byline: 'Tomas Adeyemi',
      summary:
        'Twelve streets outside primary schools now close to through traffic for half an hour at the start and end of the day. A year-long trial reports fewer cars and cleaner air.',
      body: `<p>At 8.25 every weekday, a volunteer drags a folding barrier across the end of Pell Street. For the next thirty minutes only residents, buses and bicycles may pass.</p>
<p>The trial of twelve such "school streets" in Rookley has run for a year. Air monitors at the school gates recorded about a quarter less nitrogen dioxide during drop-off, and the share of children walking or cycling rose from 55 to 68 percent.</p>
<p>Not everyone is convinced. Some parents who drive on to work say the closures add ten minutes to their journey, and a few residents resent the barriers. The council will decide in the spring whether to make the scheme permanent.</p>`,
      publishedAt: '2026-10-15T07:45:00Z',
      related: ['night-buses-return-to-the-eastern-wards'],
    },
    {
      slug: 'open-source-tool-helps-councils-publish-spending',
      section: 'Technology',
      title: 'An open-source tool helps small councils publish what they spend',
      dateline: 'Ashby Cross',
      byline: 'Jonah Lindqvist',
      summary:
        'A free program written by a retired auditor turns councils’ spreadsheets into searchable spending records. Thirty councils use it so far.',
      body: `<p>Every council must publish its spending, but for small ones that often means a spreadsheet buried in a website's archive. A retired auditor in Ashby Cross decided that was not good enough.</p>
<p>The program he wrote reads the spreadsheets councils already produce, checks them for common mistakes, such as a supplier spelled three ways, and publishes a searchable record. It runs on a single cheap server and is free to use.</p>
<p>Thirty councils have adopted it, and local reporters say it has changed what they can check. "We used to ask for the data and wait six weeks," one said. "Now we read it on a Tuesday morning."</p>
<p>The code is published under an open licence, and contributions are reviewed by a volunteer group of council finance officers.</p>`,
      publishedAt: '2026-11-16T10:00:00Z',
      related: ['repair-cafes-push-for-a-right-to-spare-parts'],
    },
    {
      slug: 'repair-cafes-push-for-a-right-to-spare-parts',
      section: 'Technology',
      title: 'Repair cafés push for a right to spare parts',
      dateline: 'Calder City',
      byline: 'Priya Okonjo',
      summary:
        'Volunteers who fix appliances for free say their biggest obstacle is not skill but access to parts and manuals. They want manufacturers to be obliged to sell both.',
      body: `<p>The repair café in the Calder City community hall fixes about two thirds of the kettles, lamps and radios brought in each month. The rest, volunteers say, fail for one reason: a part that cannot be bought.</p>
<p>A coalition of repair groups has written to the regional parliament asking for a right to spare parts: a duty on manufacturers to sell components and publish repair manuals for at least seven years after a product leaves the shops.</p>
<p>Manufacturers' associations say that some parts raise safety concerns when fitted by amateurs. Repair groups answer that they are asking for the same access that authorised repairers already have.</p>`,
      publishedAt: '2026-11-02T15:20:00Z',
      related: ['open-source-tool-helps-councils-publish-spending', 'a-library-that-lends-tools-not-books'],
    },
    {
      slug: 'rural-broadband-cooperative-lights-its-first-valley',
      section: 'Technology',
      title: 'A broadband cooperative lights up its first valley',
      dateline: 'Glenarrow',
      byline: 'Amara Castell',
      summary:
        'Residents of a remote valley dug their own trenches for fibre after commercial providers declined. The first 140 homes went live this week.',
      body: `<p>The fibre that reached Glenarrow this week runs through trenches dug partly by volunteers on weekends, across farmland whose owners granted access for free.</p>
<p>The cooperative that built it was formed three years ago after commercial providers said the valley's 140 homes were too few and too scattered to connect. Members bought shares at a price most could afford, and a regional grant covered the rest.</p>
<p>Speeds are many times what the old copper lines managed. Members say the bigger change is that two families who had planned to move away for work now plan to stay.</p>`,
      publishedAt: '2026-10-24T16:00:00Z',
      related: ['open-source-tool-helps-councils-publish-spending'],
    },
  ];
}
