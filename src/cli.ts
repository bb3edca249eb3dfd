console.log("salesgrid")
